/**
 * ecotrain's light entry point (`ecotrain/base`): settings, errors and atomic file writes, without the tensor
 * library. For tools that run before the native backend exists (setup) or never train (the headless runner).
 * @packageDocumentation
 */
export { checkKeys, ConfigError, DataError, requireOption } from './errors';
export {
  parseScale,
  parseSeed,
  parseShard,
  projectRoot,
  SCALES,
  SUMMARIES_FOLDER,
  type Scale,
  type Settings,
  settingsFromEnv,
} from './config';
export { writeFileAtomic } from './data/files';
