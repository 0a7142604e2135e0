/**
 * Placeholder entry of the web app (web/build.mjs bundles it); the page itself replaces it.
 * Shows who is signed in, using the cookie session, so the pipeline is visibly end to end.
 */
import './style.css';

const app = document.getElementById('app')!;
const heading = document.createElement('h1');
heading.textContent = 'Stream-Line';
const status = document.createElement('p');
status.textContent = 'Loading…';
app.append(heading, status);

fetch('/auth/me', { credentials: 'include' })
  .then(async (res) => {
    if (res.ok) {
      const me = (await res.json()) as { username: string };
      status.textContent = `Signed in as ${me.username}.`;
    } else {
      status.textContent = 'Not signed in.';
    }
  })
  .catch(() => {
    status.textContent = 'The server could not be reached.';
  });
