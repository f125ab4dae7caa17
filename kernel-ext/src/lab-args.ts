import * as path from 'node:path';
import { ConfigError } from 'ecotrain/base';

/**
 * Options that would expose the server beyond this machine, turn its authentication off, or load another
 * configuration file (which could do either): any class's address, token, password, origin or XSRF setting, and
 * `--config`.
 */
const FORBIDDEN =
  /^--(?:ip|port-retries|no-token|config|(?:[A-Za-z_]\w*\.)+(?:ip|token|password|hashed_password|allow_password_change|allow_remote_access|allow_origin|allow_origin_pat|allow_credentials|disable_check_xsrf|allow_unauthenticated_access|config_file|config_file_name|identity_provider_class|login_handler_class|authorizer_class))(?:=|$)/i;

/**
 * Arguments of `jupyter lab` for `npm run lab`: the user's extra arguments first, then ecotrain's fixed ones, so
 * that the server always listens on 127.0.0.1 with `token` (traitlets takes the last value given, and the command
 * line over any configuration file, so a user configuration with an empty token does not open the server either).
 * Arguments that would change the address, the authentication or the configuration file are refused, naming them.
 */
export function labArguments(root: string, userArgs: readonly string[], isRoot: boolean, token: string): string[] {
  if (!/^[0-9a-f]{32,}$/.test(token))
    throw new ConfigError('npm run lab token', '(hidden)', 'at least 32 hexadecimal digits');
  for (const a of userArgs) {
    if (FORBIDDEN.test(a))
      throw new ConfigError(
        'npm run lab argument',
        a,
        'no argument that changes the address (127.0.0.1), the token authentication or the configuration file',
      );
  }
  return [
    'lab',
    ...userArgs,
    '--ip=127.0.0.1',
    `--IdentityProvider.token=${token}`,
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
