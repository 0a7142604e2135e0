/**
 * The page: the session (cookie), the header with the quota bar, and the two views — files
 * (`#/files/<folder>`) and, for admins, users (`#/users`). Routes live in the hash so the
 * server serves one index.html and the back button walks folders.
 */
import { useEffect, useState } from 'preact/hooks';
import { client, currentUser, logout, onSessionExpired, type Me } from '../api/session.js';
import { formatBytes } from '../format.js';
import { Admin } from './admin.js';
import { Files } from './files.js';
import { Login } from './login.js';

type Route = { view: 'files'; folder: string } | { view: 'users' };

function parseRoute(): Route {
  const h = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  if (h === 'users') return { view: 'users' };
  return { view: 'files', folder: h.startsWith('files') ? h.slice(5).replace(/^\/+|\/+$/g, '') : '' };
}

export const folderHref = (folder: string): string => `#/files/${folder.split('/').map(encodeURIComponent).join('/')}`;

export function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [route, setRoute] = useState<Route>(parseRoute);
  useEffect(() => {
    onSessionExpired(() => setMe(null));
    void currentUser().then(setMe, () => setMe(null));
    const onHash = () => setRoute(parseRoute());
    // A page restored from the back-forward cache after logout must not show its old DOM.
    const onShow = (e: PageTransitionEvent) => e.persisted && location.reload();
    addEventListener('hashchange', onHash);
    addEventListener('pageshow', onShow);
    return () => {
      removeEventListener('hashchange', onHash);
      removeEventListener('pageshow', onShow);
    };
  }, []);

  if (me === undefined) return <p class="loading" aria-live="polite">Loading…</p>;
  if (me === null) return <Login onLogin={setMe} />;

  const refreshUsage = async () => {
    const u = await client.files.usage().catch(() => null);
    if (u) setMe((m) => (m ? { ...m, ...u } : m));
  };
  const signOut = async () => {
    await logout();
    setMe(null);
    history.replaceState(null, '', '#/');
    setRoute({ view: 'files', folder: '' });
  };
  const isAdmin = me.role === 'admin';
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/files/">
          Stream-Line
        </a>
        <nav aria-label="Main">
          <a href="#/files/" aria-current={route.view === 'files' ? 'page' : undefined}>
            Files
          </a>
          {isAdmin && (
            <a href="#/users" aria-current={route.view === 'users' ? 'page' : undefined}>
              Users
            </a>
          )}
        </nav>
        <Quota me={me} />
        <span class="who">{me.username}</span>
        <button type="button" onClick={signOut}>
          Log out
        </button>
      </header>
      {route.view === 'users' && isAdmin ? <Admin me={me} /> : <Files key={me.id} me={me} folder={route.view === 'files' ? route.folder : ''} onUsage={refreshUsage} />}
    </div>
  );
}

function Quota({ me }: { me: Me }) {
  const used = me.used_bytes + me.reserved_bytes;
  const label = `${formatBytes(used)} of ${formatBytes(me.quota_bytes)} used`;
  return (
    <div class="quota" title={`${formatBytes(me.used_bytes)} stored, ${formatBytes(me.reserved_bytes)} held by uploads in progress`}>
      <progress aria-label="Storage used" max={Math.max(1, me.quota_bytes)} value={Math.min(used, me.quota_bytes)} />
      <span>{label}</span>
    </div>
  );
}
