// Stylesheets imported for their effect: Vite bundles them into the CSS file.
declare module '*.css';
