import * as tfCore from '@tensorflow/tfjs-core';

/** The tfjs-core namespace ecotrain computes with (one shared copy; the backend is chosen by `initBackend`). */
export const tf = tfCore;
