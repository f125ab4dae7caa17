export * from './energy';
export * from './macs';
export * from './movement';
export * from './bitfusion';
export * from './ledger';
export * from './cluster-model';
