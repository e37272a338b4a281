// What may be shown of a setting that can carry a secret by value. pino redacts by
// key; a password inside a URL (`user:password@`, `?token=`) or a command's argument
// is a value, so it is removed before it reaches a log line, /status or an error.

/** A URL without its user info and with its query values and fragment replaced: scheme, host, path and query names remain. */
export function shownUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '(an invalid URL)';
  }
  const names = [...new Set(url.searchParams.keys())];
  const query = names.length > 0 ? `?${names.map((name) => `${encodeURIComponent(name)}=***`).join('&')}` : '';
  return `${url.protocol}//${url.username || url.password ? '***@' : ''}${url.host}${url.pathname}${query}${url.hash ? '#***' : ''}`;
}

/** A command as it may be shown: its program, and its arguments only when they are configured as not secret. */
export function shownCommand(command: readonly string[], showArguments: boolean): string {
  const [file = '', ...args] = command;
  if (showArguments || args.length === 0) return command.join(' ');
  return `${file} (${args.length} argument${args.length === 1 ? '' : 's'}, not shown: remediation.show_command_args is false)`;
}
