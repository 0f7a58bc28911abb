/** Text for HTML: every character that could open markup or an attribute is escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * The browser page of /oauth/authorize: the login link, what to do with it, a box for the `code#state` that Claude's
 * page shows, and the result. The page posts the pasted code to /oauth/callback with the browser's own credentials
 * for this gateway (loopback, or HTTP Basic with the admin key as password); it holds no token.
 */
export function loginPage(loginUrl: string, state: string, minutes: number): string {
  const link = escapeHtml(loginUrl);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Log in a Claude account · Claude Code Provider Balancer</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }
  ol li { margin: .4rem 0; }
  a.login { display: inline-block; padding: .5rem 1rem; background: #c15f3c; color: #fff; border-radius: 6px; text-decoration: none; }
  input { width: 100%; padding: .5rem; font: inherit; box-sizing: border-box; }
  button { margin-top: .6rem; padding: .5rem 1rem; font: inherit; }
  #result { margin-top: 1rem; padding: .75rem; border-radius: 6px; display: none; white-space: pre-wrap; }
  #result.ok { display: block; background: #e6f4ea; } #result.error { display: block; background: #fdecea; }
</style>
</head>
<body>
<h1>Log in a Claude account</h1>
<ol>
  <li>Open the login link and sign in with the Claude account this gateway should use.</li>
  <li>Claude shows a code ending in <code>#…</code>. Copy all of it.</li>
  <li>Paste it below and press <em>Add account</em>. The link works once, for ${minutes} minutes.</li>
</ol>
<p><a class="login" id="login-link" href="${link}" target="_blank" rel="noopener noreferrer">Open the Claude login</a></p>
<form id="paste">
  <label for="code">Code from Claude's page</label>
  <input id="code" name="code" autocomplete="off" spellcheck="false" required>
  <input type="hidden" id="state" value="${escapeHtml(state)}">
  <button type="submit">Add account</button>
</form>
<div id="result" role="status"></div>
<script>
document.getElementById('paste').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = document.getElementById('result');
  result.className = '';
  try {
    const response = await fetch('callback', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ code: document.getElementById('code').value, state: document.getElementById('state').value }),
    });
    const body = await response.json();
    if (response.ok) {
      result.textContent = 'Added ' + body.account.email + (body.account.plan ? ' (' + body.account.plan + ')' : '') + '.';
      result.className = 'ok';
    } else {
      result.textContent = (body.error && body.error.message) || 'The login failed.';
      result.className = 'error';
    }
  } catch (error) {
    result.textContent = 'The gateway did not answer: ' + error;
    result.className = 'error';
  }
});
</script>
</body>
</html>
`;
}
