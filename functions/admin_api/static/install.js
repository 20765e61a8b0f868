// Leaves the Shopify admin's iframe for the install flow (inline scripts are not allowed by
// the page's Content-Security-Policy). App Bridge turns a "_top" open into a top-level
// navigation; without it, the link in the page does the same on a click.
const target = document.currentScript.dataset.url;
window.open(target, "_top");
