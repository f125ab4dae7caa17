export * from './optimizers';
export * from './schedules';
export * from './technique';
export * from './evaluate';
export * from './swa';
export * from './checkpoint';
export * from './trainer';
export * from './language-model';
