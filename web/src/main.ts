/** Entry of the web app (bundled by web/build.mjs): the stylesheet and the Preact tree. */
import './style.css';
import { h, render } from 'preact';
import { App } from './ui/app.js';

render(h(App, {}), document.getElementById('app')!);
