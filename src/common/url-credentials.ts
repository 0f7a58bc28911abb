/** A URL as shown to operators (status endpoints, the banner): any user and password put in it removed. */
export function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replace(/\/$/, '');
}
