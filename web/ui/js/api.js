// Calls to the server: relative URLs (the page may sit behind a path prefix),
// the API key from sessionStorage as a Bearer token, and one shared key
// prompt when the server answers 401. Errors come back as ApiError carrying
// the server's machine code and message, so the page shows what the server
// said rather than a bare status.

const KEY_STORAGE = 'mlxs.apiKey';

export class ApiError extends Error {
  constructor(code, message, status = 0, details = null) {
    super(message);
    this.code = code;
    this.status = status;
    this.details = details;
  }

  // "Code: message" plus each failing path of an invalid body.
  describe() {
    const lines = [`${this.code}: ${this.message}`];
    if (Array.isArray(this.details)) {
      for (const d of this.details) lines.push(`  ${d.path || '/'}: ${d.message}`);
    }
    return lines.join('\n');
  }
}

// The error of a failed response, in OpenAI's shape {error: {code, message}}.
export async function errorOf(response) {
  let text = '';
  try {
    text = await response.text();
    const body = JSON.parse(text);
    if (body && body.error) {
      return new ApiError(
        body.error.code || `HTTP${response.status}`, body.error.message || response.statusText,
        response.status, body.error.details);
    }
  } catch {
    // Not JSON (a proxy's page, say): fall through with the status line.
  }
  return new ApiError(
    `HTTP${response.status}`, text.slice(0, 200) || response.statusText, response.status);
}

let pendingKey = null;

// Opens the key dialog once, however many calls were refused meanwhile.
function askForKey(reason) {
  if (pendingKey) return pendingKey;
  const dialog = document.getElementById('key-dialog');
  const input = document.getElementById('key-input');
  document.getElementById('key-reason').textContent = reason;
  input.value = '';
  pendingKey = new Promise((resolve) => {
    const cancel = document.getElementById('key-cancel');
    const onCancel = () => dialog.close('cancel');
    cancel.addEventListener('click', onCancel, { once: true });
    dialog.addEventListener('close', () => {
      cancel.removeEventListener('click', onCancel);
      pendingKey = null;
      const key = input.value.trim();
      if (dialog.returnValue === 'ok' && key) {
        sessionStorage.setItem(KEY_STORAGE, key);
        resolve(true);
      } else {
        resolve(false);
      }
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
  });
  return pendingKey;
}

// fetch() with the key; asks for one (again) on 401 and retries.
export async function apiFetch(path, init = {}) {
  for (let attempt = 0;; attempt++) {
    const headers = new Headers(init.headers || {});
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers.set('Authorization', `Bearer ${key}`);
    const response = await fetch(path, {...init, headers });
    if (response.status !== 401 || attempt >= 3) return response;
    const reason =
      key ? 'The server refused that key. Enter another API key.' : 'This server needs an API key.';
    if (!(await askForKey(reason))) {
      throw new ApiError('Unauthorized', 'an API key is needed to use this server', 401);
    }
  }
}

// A JSON call that throws ApiError on any non-2xx answer.
export async function apiJson(path, init = {}) {
  const response = await apiFetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export function postJson(path, body, init = {}) {
  return apiJson(path, {
    ...init,
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}
