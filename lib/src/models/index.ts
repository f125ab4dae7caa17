export * from './spec';
export * from './params';
export { runGrouped } from './ops';
export * from './resnet';
export * from './small';
export * from './sequential';
export * from './surgery';
export * from './lstm';
export * from './low-rank';
