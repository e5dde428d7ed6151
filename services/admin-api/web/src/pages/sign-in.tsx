import { useState } from 'preact/hooks';
import { api, ApiFailure, type ResponseOf } from '../api/client.ts';
import { ErrorMessage, Field, useTitle } from '../components/ui.tsx';

type Session = ResponseOf<'/v1/session', 'post'>;

export function SignInPage({ onSignedIn }: { onSignedIn(s: Session): void }) {
  useTitle('Sign in');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Not api(): a 401 here is a wrong token, not an expired session.
      const s = await api('post', '/v1/session', { body: { token: token.trim() } }, { signIn: true });
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError(err instanceof ApiFailure && err.status === 401 ? new Error('That is neither the admin token nor a live API key.') : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in to Hopmail</h1>
      <p class="muted">Use the admin token or an API key. The console keeps a session cookie; the key is not stored in the browser.</p>
      <form onSubmit={submit}>
        <Field id="token" label="Admin token or API key">
          <input id="token" name="token" type="password" autoComplete="current-password" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </Field>
        <ErrorMessage error={error} />
        <button class="primary" type="submit" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
