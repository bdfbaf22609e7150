// Entry point: two views of one page, chosen by the URL's hash (#chat,
// #dashboard) so every URL stays relative to the page and works behind a
// path prefix. The dashboard polls only while it is shown.
import {initChat} from './chat.js';
import {Dashboard} from './dashboard.js';

const views = {
  chat: 'view-chat',
  dashboard: 'view-dashboard'
};
let dashboard = null;

function show() {
  const name = location.hash === '#dashboard' ? 'dashboard' : 'chat';
  for (const [view, id] of Object.entries(views)) {
    document.getElementById(id).hidden = view !== name;
    const link = document.getElementById(`nav-${view}`);
    if (view === name)
      link.setAttribute('aria-current', 'page');
    else
      link.removeAttribute('aria-current');
  }
  document.title = name === 'dashboard' ? 'Dashboard · mlx-serving' : 'Chat · mlx-serving';
  if (name === 'dashboard') {
    dashboard ??= new Dashboard();
    dashboard.start();
  } else {
    dashboard?.stop();
  }
}

window.addEventListener('hashchange', show);
initChat();
show();
