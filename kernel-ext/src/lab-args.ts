import * as path from 'node:path';
import { ConfigError } from 'ecotrain/base';

/** Options that would expose the server beyond this machine or turn its authentication off. */
const FORBIDDEN =
  /^--(?:ip|port-retries|(?:ServerApp|NotebookApp|LabApp|IdentityProvider|PasswordIdentityProvider)\.(?:ip|token|password|allow_remote_access|allow_origin|allow_origin_pat|disable_check_xsrf|hashed_password|allow_password_change)|no-token|NotebookApp\.token)(?:=|$)/;

/**
 * Arguments of `jupyter lab` for `npm run lab`: the user's extra arguments first, then ecotrain's fixed ones, so
 * that the server always listens on 127.0.0.1 with its token (traitlets takes the last value given). Arguments
 * that would change the address or the authentication are refused, naming them.
 */
export function labArguments(root: string, userArgs: readonly string[], isRoot: boolean): string[] {
  for (const a of userArgs) {
    if (FORBIDDEN.test(a))
      throw new ConfigError(
        'npm run lab argument',
        a,
        'no argument that changes the address (127.0.0.1) or the token authentication',
      );
  }
  return [
    'lab',
    ...userArgs,
    '--ip=127.0.0.1',
    '--no-browser',
    `--notebook-dir=${path.join(root, 'notebooks')}`,
    '--MultiKernelManager.default_kernel_name=ecotrain',
    ...(isRoot ? ['--allow-root'] : []),
  ];
}

/** JupyterLab settings overrides: no news or update-check prompt. */
export const LAB_SETTINGS_OVERRIDES = {
  '@jupyterlab/apputils-extension:notification': { checkForUpdates: false, fetchNews: 'false' },
};
