/*
 * polaris-local.js: a small local stand-in for Polaris web components and App Bridge.
 *
 * Inside the Shopify admin the page loads Shopify's own `polaris-1.js` and `app-bridge.js`
 * from Shopify's CDN. Opened directly (the local stack, the browser tests: no network to that
 * CDN) it loads this file instead. It defines the same element and attribute names, so the
 * same markup runs in both places, and draws them with plain, accessible HTML (real labels,
 * buttons, a native <dialog>, roles on the table). It is NOT Polaris's look, only its API.
 *
 * Elements (attributes exactly as Polaris documents them; HTML attributes are case-insensitive):
 *   s-page heading inlineSize; slots primary-action, secondary-actions, breadcrumb-actions, aside
 *   s-section heading padding | s-box | s-stack direction gap alignItems justifyContent
 *   s-grid gridTemplateColumns gap | s-heading | s-paragraph | s-text type tone color | s-divider
 *   s-button variant tone disabled loading href target type accessibilityLabel commandFor command
 *   s-link href target tone | s-badge tone | s-banner heading tone dismissible | s-spinner
 *   s-text-field, s-email-field, s-number-field (min max step), s-date-field, s-text-area (rows):
 *     label labelAccessibilityVisibility name value placeholder details error disabled required
 *   s-select (same) with s-option value selected disabled | s-checkbox, s-switch label checked
 *   s-table variant; s-table-header-row > s-table-header (listSlot format); s-table-body >
 *     s-table-row (clickDelegate) > s-table-cell; slot filters; rows stack on narrow screens
 *   s-modal id heading accessibilityLabel size; slots primary-action, secondary-actions;
 *     showOverlay() hideOverlay() toggleOverlay(); events show, hide; Escape closes
 *   App Bridge: s-app-nav (s-link / a children, rel="home"), ui-save-bar id (button children),
 *     window.shopify: idToken(), toast.show(message, {isError, duration}),
 *     saveBar.show(id) hide(id) toggle(id) leaveConfirmation(),
 *     scopes.query() request(scopes) revoke(scopes): the app's required scopes granted, an
 *     optional one once requested (the merchant always grants it here)
 * Form fields fire `input` and `change` on the element and expose `.value` (`.checked`).
 */
(() => {
  "use strict";

  const define = (name, cls) => { if (!customElements.get(name)) customElements.define(name, cls); };
  let serial = 0;
  const uid = (prefix) => `${prefix}-${++serial}`;
  const has = (el, name) => el.hasAttribute(name) && el.getAttribute(name) !== "false";

  function shadow(host, css, markup) {
    const root = host.attachShadow({ mode: "open", delegatesFocus: true });
    const style = document.createElement("style");
    style.textContent = css;
    const template = document.createElement("template");
    template.innerHTML = markup; // fixed markup of this file only: API text is never set here
    root.append(style, template.content);
    return root;
  }

  const BASE = ":host{display:block}[hidden]{display:none!important}";

  // ------------------------------------------------------------------ layout (style only)

  const SPACE = { none: "0", "small-500": "2px", "small-400": "2px", "small-300": "4px", "small-200": "6px",
    "small-100": "8px", small: "8px", base: "12px", large: "16px", "large-100": "20px", "large-200": "24px" };
  const space = (value) => SPACE[value] ?? SPACE.base;
  const BORDER = { none: "0", base: "1px solid #e3e3e3", strong: "1px solid #b5b5b5", "large": "2px solid #e3e3e3" };
  const RADIUS = { none: "0", small: "4px", base: "8px", large: "12px", "large-100": "16px", "large-200": "20px" };
  const BACKGROUND = { transparent: "transparent", base: "#fff", subdued: "#f7f7f7", strong: "#f1f1f1" };

  class Styled extends HTMLElement {
    static get observedAttributes() { return ["gap", "direction", "gridtemplatecolumns", "alignitems", "justifycontent", "padding", "paddingblockstart", "paddingblockend", "border", "borderradius", "background"]; }
    connectedCallback() { this.apply(); }
    attributeChangedCallback() { this.apply(); }
    apply() {
      const name = this.localName;
      if (this.hasAttribute("gap")) this.style.gap = space(this.getAttribute("gap"));
      if (this.hasAttribute("padding")) this.style.padding = space(this.getAttribute("padding"));
      if (this.hasAttribute("paddingblockstart")) this.style.paddingTop = space(this.getAttribute("paddingblockstart"));
      if (this.hasAttribute("paddingblockend")) this.style.paddingBottom = space(this.getAttribute("paddingblockend"));
      if (name === "s-box") {
        if (this.hasAttribute("border")) this.style.border = BORDER[this.getAttribute("border")] ?? BORDER.base;
        if (this.hasAttribute("borderradius")) this.style.borderRadius = RADIUS[this.getAttribute("borderradius")] ?? RADIUS.base;
        if (this.hasAttribute("background")) this.style.background = BACKGROUND[this.getAttribute("background")] ?? "";
      }
      if (name === "s-stack" || name === "s-grid") {
        if (name === "s-stack") this.style.flexDirection = this.getAttribute("direction") === "inline" ? "row" : "column";
        if (this.hasAttribute("alignitems")) this.style.alignItems = this.getAttribute("alignitems");
        if (this.hasAttribute("justifycontent")) this.style.justifyContent = this.getAttribute("justifycontent");
      }
      if (name === "s-grid" && this.hasAttribute("gridtemplatecolumns")) {
        this.style.gridTemplateColumns = this.getAttribute("gridtemplatecolumns");
      }
      if (name === "s-heading" && !this.hasAttribute("role")) {
        this.setAttribute("role", "heading");
        this.setAttribute("aria-level", "3");
      }
      if (name === "s-divider") this.setAttribute("role", "separator");
      if (name === "s-spinner") {
        this.setAttribute("role", "status");
        this.setAttribute("aria-label", this.getAttribute("accessibilitylabel") || "Loading");
      }
    }
  }
  for (const name of ["s-box", "s-stack", "s-grid", "s-heading", "s-paragraph", "s-text", "s-divider", "s-badge", "s-spinner", "s-option"]) {
    define(name, class extends Styled {});
  }

  // ------------------------------------------------------------------ page and section

  define("s-page", class extends HTMLElement {
    static get observedAttributes() { return ["heading"]; }
    constructor() {
      super();
      shadow(this, `${BASE}
        .page{max-width:1000px;margin:0 auto;padding:16px}
        :host([inlinesize=large]) .page{max-width:1400px} :host([inlinesize=small]) .page{max-width:640px}
        header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 12px;margin-bottom:16px}
        h1{font-size:1.35rem;margin:0;flex:1 1 auto;min-width:0;overflow-wrap:anywhere}
        .actions{display:flex;flex-wrap:wrap;gap:8px}
        .body{display:grid;gap:16px;grid-template-columns:minmax(0,1fr)}
        .main{display:flex;flex-direction:column;gap:16px;min-width:0}
        @media (min-width:900px){.body.with-aside{grid-template-columns:minmax(0,2fr) minmax(0,1fr)}}`,
      `<div class="page"><header><slot name="breadcrumb-actions"></slot><h1></h1>
        <div class="actions"><slot name="secondary-actions"></slot><slot name="primary-action"></slot></div></header>
        <div class="body"><div class="main"><slot></slot></div><aside hidden><slot name="aside"></slot></aside></div></div>`);
      const aside = this.shadowRoot.querySelector("slot[name=aside]");
      aside.addEventListener("slotchange", () => {
        const used = aside.assignedElements().length > 0;
        this.shadowRoot.querySelector("aside").hidden = !used;
        this.shadowRoot.querySelector(".body").classList.toggle("with-aside", used);
      });
    }
    connectedCallback() { this.attributeChangedCallback(); }
    attributeChangedCallback() {
      const h1 = this.shadowRoot.querySelector("h1");
      h1.textContent = this.getAttribute("heading") || "";
      h1.hidden = !h1.textContent;
    }
  });

  define("s-section", class extends HTMLElement {
    static get observedAttributes() { return ["heading"]; }
    constructor() {
      super();
      shadow(this, `${BASE}
        :host{background:#fff;border-radius:12px;box-shadow:0 1px 0 rgba(0,0,0,.08),0 0 0 1px rgba(0,0,0,.06);min-width:0}
        section{padding:16px;display:flex;flex-direction:column;gap:12px}
        :host([padding=none]) section{padding:0;gap:0}
        :host([padding=none]) h2{padding:16px 16px 12px}
        h2{font-size:1rem;margin:0}`,
      `<section><h2></h2><slot></slot></section>`);
    }
    connectedCallback() { this.attributeChangedCallback(); }
    attributeChangedCallback() {
      const h2 = this.shadowRoot.querySelector("h2");
      h2.textContent = this.getAttribute("heading") || "";
      h2.hidden = !h2.textContent;
      if (h2.textContent) this.shadowRoot.querySelector("section").setAttribute("aria-label", h2.textContent);
    }
  });

  // ------------------------------------------------------------------ actions

  const BUTTON_CSS = `${BASE}:host{display:inline-block}
    button,a{font:inherit;display:inline-flex;align-items:center;gap:4px;padding:6px 12px;border-radius:8px;
      border:1px solid #c9cccf;background:#fff;color:#202223;cursor:pointer;text-decoration:none;min-height:32px;box-sizing:border-box}
    :host([variant=primary]) button,:host([variant=primary]) a{background:#303030;border-color:#303030;color:#fff}
    :host([tone=critical]) button{color:#8e1f0b;border-color:#e0b3aa}
    :host([tone=critical][variant=primary]) button{background:#c70a24;border-color:#c70a24;color:#fff}
    :host([variant=tertiary]) button,:host([variant=tertiary]) a{border-color:transparent;background:transparent}
    :host([variant=tertiary]) button:hover:not(:disabled),:host([variant=tertiary]) a:hover{background:#f1f1f1}
    button:hover:not(:disabled),a:hover{filter:brightness(.97)}
    button:disabled{opacity:.5;cursor:default}
    button:focus-visible,a:focus-visible{outline:2px solid #005bd3;outline-offset:1px}`;

  define("s-button", class extends HTMLElement {
    static get observedAttributes() { return ["disabled", "loading", "href", "target", "accessibilitylabel", "type"]; }
    constructor() {
      super();
      shadow(this, BUTTON_CSS, `<button type="button" part="button"><slot></slot></button>`);
      this.addEventListener("click", (event) => {
        if (this.disabled) { event.stopImmediatePropagation(); event.preventDefault(); return; }
        const target = this.getAttribute("commandfor");
        const overlay = target && document.getElementById(target);
        if (!overlay) return;
        const command = this.getAttribute("command") || "--toggle";
        if (command === "--show") overlay.showOverlay?.();
        else if (command === "--hide") overlay.hideOverlay?.();
        else overlay.toggleOverlay?.();
      });
      this.shadowRoot.querySelector("button").addEventListener("click", (event) => {
        const href = this.getAttribute("href");
        if (!href) return;
        // A button with href is a link: the browser follows it unless the page's router took it.
        setTimeout(() => {
          if (event.defaultPrevented) return;
          if (this.getAttribute("target") === "_blank") window.open(href, "_blank", "noopener");
          else window.location.assign(href);
        }, 0);
      });
    }
    get disabled() { return has(this, "disabled") || has(this, "loading"); }
    set disabled(value) { this.toggleAttribute("disabled", Boolean(value)); }
    get loading() { return has(this, "loading"); }
    set loading(value) { this.toggleAttribute("loading", Boolean(value)); }
    connectedCallback() { this.attributeChangedCallback(); }
    attributeChangedCallback() {
      const button = this.shadowRoot.querySelector("button");
      button.disabled = this.disabled;
      button.toggleAttribute("aria-busy", this.loading);
      const label = this.getAttribute("accessibilitylabel");
      if (label) button.setAttribute("aria-label", label); else button.removeAttribute("aria-label");
    }
  });

  define("s-link", class extends HTMLElement {
    static get observedAttributes() { return ["href", "target"]; }
    constructor() {
      super();
      shadow(this, `:host{display:inline}a{color:#005bd3;text-decoration:underline;overflow-wrap:anywhere}
        a:focus-visible{outline:2px solid #005bd3}`, `<a part="link"><slot></slot></a>`);
    }
    connectedCallback() { this.attributeChangedCallback(); }
    attributeChangedCallback() {
      const a = this.shadowRoot.querySelector("a");
      const href = this.getAttribute("href");
      if (href) a.setAttribute("href", href); else a.removeAttribute("href");
      const target = this.getAttribute("target");
      if (target && target !== "auto") a.setAttribute("target", target); else a.removeAttribute("target");
      if (target === "_blank") a.setAttribute("rel", "noopener");
    }
  });

  define("s-banner", class extends HTMLElement {
    static get observedAttributes() { return ["heading", "tone", "dismissible"]; }
    constructor() {
      super();
      shadow(this, `${BASE}
        .box{border-radius:12px;padding:12px 16px;background:#eaf4ff;border:1px solid #a4cfff;border-left-width:4px;display:flex;gap:8px;align-items:flex-start;color:#303030}
        :host([tone=success]) .box{background:#e6f6ea;border-color:#9ed4ab;border-left-color:#0c5132}
        :host([tone=warning]) .box,:host([tone=caution]) .box{background:#fff5d6;border-color:#f0cf69;border-left-color:#5e4200}
        :host([tone=critical]) .box{background:#fee9e8;border-color:#f2a7a1;border-left-color:#8e0b21}
        :host(:not([tone])) .box,:host([tone=info]) .box{border-left-color:#00527c}
        .text{flex:1;min-width:0} strong{display:block;margin-bottom:2px}
        button{border:0;background:none;font-size:1.1rem;cursor:pointer;color:inherit;border-radius:6px;padding:0 6px}
        button:focus-visible{outline:2px solid #005bd3}`,
      `<div class="box"><div class="text"><strong></strong><slot></slot></div><button type="button" aria-label="Dismiss" hidden>×</button></div>`);
      this.shadowRoot.querySelector("button").addEventListener("click", () => {
        this.hidden = true;
        this.dispatchEvent(new Event("dismiss"));
      });
    }
    connectedCallback() { this.attributeChangedCallback(); }
    attributeChangedCallback() {
      const box = this.shadowRoot.querySelector(".box");
      const tone = this.getAttribute("tone");
      box.setAttribute("role", tone === "critical" || tone === "warning" ? "alert" : "status");
      const heading = this.shadowRoot.querySelector("strong");
      heading.textContent = this.getAttribute("heading") || "";
      heading.hidden = !heading.textContent;
      this.shadowRoot.querySelector("button").hidden = !has(this, "dismissible");
    }
  });

  // ------------------------------------------------------------------ form fields

  const FIELD_CSS = `${BASE}
    label,.label{display:block;margin-bottom:4px}
    input,select,textarea{font:inherit;width:100%;box-sizing:border-box;padding:6px 8px;border:1px solid #8a8a8a;border-radius:8px;background:#fff;min-height:36px}
    input,select{height:36px}
    input:focus-visible,select:focus-visible,textarea:focus-visible{outline:2px solid #005bd3;outline-offset:1px}
    :host([labelaccessibilityvisibility=exclusive]) label{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
    .details{color:#616161;font-size:.85rem;margin:4px 0 0}
    .error{color:#8e1f0b;font-size:.85rem;margin:4px 0 0}
    input:disabled,select:disabled,textarea:disabled{background:#f3f3f3;border-color:#d4d4d4;color:#8a8a8a;cursor:not-allowed}
    [aria-invalid=true]{border-color:#c70a24;background:#fff4f4}`;

  class Field extends HTMLElement {
    static get observedAttributes() { return ["label", "value", "placeholder", "details", "error", "disabled", "required", "min", "max", "step", "rows", "name"]; }
    constructor() {
      super();
      const id = uid("field");
      shadow(this, FIELD_CSS, `<label for="${id}"></label>${this.control(id)}<p class="details" id="${id}-details" hidden></p><p class="error" id="${id}-error" hidden></p>`);
      this.input = this.shadowRoot.getElementById(id);
      this.input.addEventListener("change", () => this.dispatchEvent(new Event("change", { bubbles: true })));
    }
    control(id) { return `<input id="${id}" type="${this.inputType()}">`; }
    inputType() { return "text"; }
    get value() { return this.input.value; }
    set value(v) { this.input.value = v ?? ""; }
    get disabled() { return this.input.disabled; }
    set disabled(v) { this.toggleAttribute("disabled", Boolean(v)); }
    get error() { return this.getAttribute("error") || ""; }
    set error(v) { if (v) this.setAttribute("error", v); else this.removeAttribute("error"); }
    focus(options) { this.input.focus(options); }
    connectedCallback() { for (const name of Field.observedAttributes) this.attributeChangedCallback(name, null, this.getAttribute(name)); }
    attributeChangedCallback(name, _old, value) {
      const input = this.input;
      const byId = (suffix) => this.shadowRoot.getElementById(`${input.id}-${suffix}`);
      if (name === "label") this.shadowRoot.querySelector("label").textContent = value || "";
      else if (name === "value") { if (value !== null && input.value !== value) input.value = value; }
      else if (name === "details" || name === "error") {
        const el = byId(name);
        el.textContent = value || "";
        el.hidden = !value;
        if (name === "error") {
          if (value) { input.setAttribute("aria-invalid", "true"); el.setAttribute("role", "alert"); } else input.removeAttribute("aria-invalid");
        }
        const described = ["details", "error"].filter((n) => this.getAttribute(n)).map((n) => `${input.id}-${n}`);
        if (described.length) input.setAttribute("aria-describedby", described.join(" ")); else input.removeAttribute("aria-describedby");
      } else if (name === "disabled" || name === "required") input[name] = value !== null && value !== "false";
      else if (value === null) input.removeAttribute(name);
      else if (name !== "name") input.setAttribute(name, value);
    }
  }
  define("s-text-field", class extends Field {});
  define("s-email-field", class extends Field { inputType() { return "email"; } });
  define("s-number-field", class extends Field { inputType() { return "number"; } });
  define("s-date-field", class extends Field { inputType() { return "date"; } });
  define("s-text-area", class extends Field { control(id) { return `<textarea id="${id}" rows="3"></textarea>`; } });

  define("s-select", class extends Field {
    control(id) { return `<select id="${id}"></select>`; }
    constructor() {
      super();
      this.pending = null;
      new MutationObserver(() => this.options()).observe(this, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["value", "selected", "disabled"] });
    }
    get value() { return this.input.options.length ? this.input.value : (this.pending ?? this.getAttribute("value") ?? ""); }
    set value(v) { this.pending = v ?? ""; this.input.value = this.pending; }
    connectedCallback() { this.options(); super.connectedCallback(); }
    attributeChangedCallback(name, old, value) {
      if (name === "value" && value !== null) { this.pending = value; this.input.value = value; return; }
      super.attributeChangedCallback(name, old, value);
    }
    options() {
      const wanted = this.pending ?? this.getAttribute("value");
      const options = [...this.querySelectorAll("s-option")].map((o) => {
        const option = document.createElement("option");
        option.value = o.getAttribute("value") ?? o.textContent;
        option.textContent = o.textContent;
        option.disabled = has(o, "disabled");
        if (has(o, "selected")) option.selected = true;
        return option;
      });
      this.input.replaceChildren(...options);
      if (wanted !== null && wanted !== undefined) this.input.value = wanted;
    }
  });

  define("s-checkbox", class extends HTMLElement {
    static get observedAttributes() { return ["label", "checked", "disabled", "details", "error", "accessibilitylabel"]; }
    constructor() {
      super();
      // The host is as wide as its label: a click anywhere on it reaches the box.
      shadow(this, `${BASE} :host{display:inline-block} label{display:inline-flex;gap:8px;align-items:center;cursor:pointer}
        input{width:16px;height:16px;margin:0} .details{color:#616161;font-size:.85rem;margin:2px 0 0 24px}
        .error{color:#8e1f0b;font-size:.85rem;margin:2px 0 0 24px}`,
      `<label><input type="checkbox"><span></span></label><p class="details" hidden></p><p class="error" role="alert" hidden></p>`);
      this.input = this.shadowRoot.querySelector("input");
      if (this.localName === "s-switch") this.input.setAttribute("role", "switch");
      this.input.addEventListener("change", () => this.dispatchEvent(new Event("change", { bubbles: true })));
    }
    get checked() { return this.input.checked; }
    set checked(v) { this.input.checked = Boolean(v); }
    get value() { return this.getAttribute("value") || "on"; }
    get disabled() { return this.input.disabled; }
    set disabled(v) { this.toggleAttribute("disabled", Boolean(v)); }
    connectedCallback() { for (const name of this.constructor.observedAttributes) this.attributeChangedCallback(name, null, this.getAttribute(name)); }
    attributeChangedCallback(name, _old, value) {
      if (name === "label") this.shadowRoot.querySelector("span").textContent = value || "";
      else if (name === "checked") { if (value !== null) this.input.checked = value !== "false"; }
      else if (name === "disabled") this.input.disabled = value !== null && value !== "false";
      else if (name === "accessibilitylabel") { if (value) this.input.setAttribute("aria-label", value); }
      else {
        const el = this.shadowRoot.querySelector(`.${name}`);
        el.textContent = value || "";
        el.hidden = !value;
      }
    }
  });
  define("s-switch", class extends customElements.get("s-checkbox") {});

  // ------------------------------------------------------------------ table

  define("s-table", class extends HTMLElement {
    constructor() {
      super();
      shadow(this, `${BASE}
        .filters{margin-bottom:8px}
        .table{display:table;width:100%;border-collapse:collapse}
        @media (max-width:600px){.table{display:block}}`,
      `<div class="filters" hidden><slot name="filters"></slot></div><div class="table" role="table"><slot></slot></div>`);
      const filters = this.shadowRoot.querySelector("slot[name=filters]");
      filters.addEventListener("slotchange", () => { filters.parentElement.hidden = !filters.assignedElements().length; });
    }
    connectedCallback() {
      const label = this.getAttribute("accessibilitylabel") || this.getAttribute("aria-label");
      if (label) this.shadowRoot.querySelector(".table").setAttribute("aria-label", label);
    }
  });
  const ROLES = { "s-table-header-row": "row", "s-table-header": "columnheader", "s-table-body": "rowgroup", "s-table-row": "row", "s-table-cell": "cell" };
  for (const [name, role] of Object.entries(ROLES)) {
    define(name, class extends HTMLElement {
      connectedCallback() {
        this.setAttribute("role", role);
        if (name === "s-table-cell") this.label();
        if (name === "s-table-row" && !this.delegating) {
          this.delegating = true;
          this.addEventListener("click", (event) => {
            const id = this.getAttribute("clickdelegate");
            const target = id && this.querySelector(`#${CSS.escape(id)}`);
            const interactive = event.composedPath().some((el) => el !== this && el.matches?.("a, button, input, label, select, s-button, s-link, s-checkbox"));
            if (target && !interactive) target.click();
          });
        }
      }
      label() {
        // On a narrow screen each cell shows its column's header before it.
        const row = this.parentElement;
        const table = this.closest("s-table");
        if (!row || !table) return;
        const headers = [...table.querySelectorAll("s-table-header")];
        const header = headers[[...row.children].indexOf(this)];
        if (header && !this.dataset.label) this.dataset.label = header.textContent.trim();
      }
    });
  }

  // ------------------------------------------------------------------ modal

  define("s-modal", class extends HTMLElement {
    static get observedAttributes() { return ["heading", "accessibilitylabel"]; }
    constructor() {
      super();
      const id = uid("modal");
      shadow(this, `:host{display:contents}
        dialog{border:0;border-radius:12px;padding:0;width:min(560px,calc(100vw - 24px));box-shadow:0 8px 32px rgba(0,0,0,.3)}
        :host([size=large]) dialog{width:min(900px,calc(100vw - 24px))}
        dialog::backdrop{background:rgba(0,0,0,.45)}
        header{display:flex;align-items:center;justify-content:space-between;padding:12px 16px;border-bottom:1px solid #e3e3e3}
        h2{font-size:1rem;margin:0} .body{padding:16px} .close{border:0;background:none;font-size:1.3rem;cursor:pointer}
        footer{display:flex;justify-content:flex-end;flex-wrap:wrap;gap:8px;padding:12px 16px;border-top:1px solid #e3e3e3}`,
      `<dialog aria-labelledby="${id}"><header><h2 id="${id}"></h2><button type="button" class="close" aria-label="Close">×</button></header>
        <div class="body"><slot></slot></div><footer><slot name="secondary-actions"></slot><slot name="primary-action"></slot></footer></dialog>`);
      this.dialog = this.shadowRoot.querySelector("dialog");
      this.shadowRoot.querySelector(".close").addEventListener("click", () => this.hideOverlay());
      this.dialog.addEventListener("close", () => {
        this.dispatchEvent(new Event("hide"));
        this.dispatchEvent(new Event("afterhide"));
        if (this.opener && this.opener.isConnected) this.opener.focus();
        this.opener = null;
      });
    }
    connectedCallback() { this.attributeChangedCallback(); }
    attributeChangedCallback() {
      this.shadowRoot.querySelector("h2").textContent = this.getAttribute("heading") || "";
      const label = this.getAttribute("accessibilitylabel");
      if (label) this.dialog.setAttribute("aria-label", label);
    }
    showOverlay() {
      if (this.dialog.open) return;
      this.opener = deepActive();
      this.dialog.showModal(); // modal: the rest of the page is inert, Escape closes it
      this.dispatchEvent(new Event("show"));
    }
    hideOverlay() { if (this.dialog.open) this.dialog.close(); }
    toggleOverlay() { if (this.dialog.open) this.hideOverlay(); else this.showOverlay(); }
  });

  function deepActive() {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    return el;
  }

  // ------------------------------------------------------------------ App Bridge: nav

  define("s-app-nav", class extends HTMLElement {
    constructor() {
      super();
      // One row at every width: the links scroll sideways (by touch, wheel or Tab, which brings a
      // focused link into view) instead of wrapping onto a second line on a phone.
      shadow(this, `:host{display:block;background:#1a1a1a}
        nav{padding:0 8px;display:flex;flex-wrap:nowrap;align-items:center;column-gap:4px}
        .links{display:flex;flex-wrap:nowrap;column-gap:4px;min-width:0;flex:1 1 auto;overflow-x:auto;
          scrollbar-width:none;-webkit-overflow-scrolling:touch;padding:0 2px}
        .links::-webkit-scrollbar{display:none}
        .links.more-after{-webkit-mask-image:linear-gradient(to right,#000 calc(100% - 32px),transparent);
          mask-image:linear-gradient(to right,#000 calc(100% - 32px),transparent)}
        .brand{color:#fff;font-weight:600;padding:10px 8px;flex:0 0 auto}
        a{color:#e3e3e3;text-decoration:none;padding:10px 8px;white-space:nowrap;border-bottom:2px solid transparent;flex:0 0 auto}
        a:hover{color:#fff}
        a[aria-current=page]{color:#fff;border-bottom-color:#fff} a:focus-visible{outline:2px solid #fff;outline-offset:-2px}`,
      `<nav aria-label="Recoup"><span class="brand">Recoup</span><span class="links"></span></nav>`);
      const draw = () => this.draw();
      window.addEventListener("popstate", draw);
      window.addEventListener("recoup:navigated", draw);
      const links = this.shadowRoot.querySelector(".links");
      const hint = () => links.classList.toggle("more-after", links.scrollLeft + links.clientWidth < links.scrollWidth - 1);
      links.addEventListener("scroll", hint, { passive: true });
      window.addEventListener("resize", hint);
      this.hint = hint;
    }
    connectedCallback() { queueMicrotask(() => this.draw()); }
    draw() {
      const here = window.location.pathname.replace(/\/+$/, "") || "/app";
      let currentLink = null;
      const links = [...this.children].filter((el) => el.getAttribute("href")).map((el) => {
        const a = document.createElement("a");
        const href = el.getAttribute("href");
        a.href = href;
        a.textContent = el.textContent.trim();
        const current = el.getAttribute("rel") === "home" ? here === href : here === href || here.startsWith(`${href}/`);
        if (current) { a.setAttribute("aria-current", "page"); currentLink = a; }
        return a;
      });
      const row = this.shadowRoot.querySelector(".links");
      row.replaceChildren(...links);
      // The current page's link is always in sight, without scrolling the page itself.
      if (currentLink) {
        const start = currentLink.offsetLeft - row.offsetLeft;
        const end = start + currentLink.offsetWidth;
        if (start < row.scrollLeft || end > row.scrollLeft + row.clientWidth) row.scrollLeft = Math.max(0, end - row.clientWidth + 24);
      }
      this.hint();
    }
  });

  // ------------------------------------------------------------------ App Bridge: save bar

  define("ui-save-bar", class extends HTMLElement {
    constructor() {
      super();
      shadow(this, `:host{display:none;position:sticky;top:0;z-index:20}
        :host([showing]){display:block}
        div{display:flex;align-items:center;gap:8px;flex-wrap:wrap;justify-content:flex-end;background:#303030;color:#fff;padding:8px 16px}
        span{flex:1;font-weight:600}`,
      `<div role="region" aria-label="Unsaved changes"><span>Unsaved changes</span><slot></slot></div>`);
    }
    get showing() { return this.hasAttribute("showing"); }
  });

  function confirmLeaving() {
    // A native modal <dialog> in a closed corner of the page: "Leave page" or "Stay".
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.setAttribute("aria-labelledby", "recoup-leave-heading");
      const heading = document.createElement("h2");
      heading.id = "recoup-leave-heading";
      heading.textContent = "Leave page with unsaved changes?";
      const text = document.createElement("p");
      text.textContent = "Leaving this page will discard the changes you have not saved.";
      const stay = document.createElement("button");
      stay.textContent = "Stay";
      const leave = document.createElement("button");
      leave.textContent = "Leave page";
      dialog.append(heading, text, stay, leave);
      document.body.append(dialog);
      let left = false;
      stay.addEventListener("click", () => dialog.close());
      leave.addEventListener("click", () => { left = true; dialog.close(); });
      dialog.addEventListener("close", () => { dialog.remove(); if (left) resolve(); });
      dialog.showModal();
      stay.focus();
    });
  }

  // ------------------------------------------------------------------ the `shopify` global

  let token = null;
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("id_token")) {
    token = fragment.get("id_token");
    // Out of the address bar and the history: the token lives in this page's memory only.
    history.replaceState(history.state, "", window.location.pathname + window.location.search);
  }

  function toastRegion() {
    let region = document.getElementById("recoup-toasts");
    if (!region) {
      region = document.createElement("div");
      region.id = "recoup-toasts";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.append(region);
    }
    return region;
  }

  const saveBars = () => [...document.querySelectorAll("ui-save-bar")];
  window.addEventListener("beforeunload", (event) => {
    if (saveBars().some((bar) => bar.showing)) event.preventDefault();
  });

  if (!window.shopify) {
    window.shopify = {
      config: { local: true },
      async idToken() {
        if (!token) throw new Error("no session token: open the page with `recoup admin-url`");
        return token;
      },
      toast: {
        show(message, options = {}) {
          // Like Shopify's: gone after a few seconds (5 s unless told), at most three at once
          // (the oldest goes first), and a close button for whoever wants it gone sooner.
          const id = uid("toast");
          const item = document.createElement("div");
          item.className = options.isError ? "toast toast-error" : "toast";
          item.dataset.toast = id;
          const text = document.createElement("span");
          text.textContent = message;
          const close = document.createElement("button");
          close.type = "button";
          close.className = "toast-close";
          close.setAttribute("aria-label", "Dismiss notification");
          close.textContent = "×";
          close.addEventListener("click", () => item.remove());
          item.append(text, close);
          const region = toastRegion();
          region.append(item);
          while (region.children.length > 3) region.firstElementChild.remove();
          setTimeout(() => item.remove(), Math.min(Math.max(options.duration || 5000, 2000), 10000));
          return id;
        },
        hide(id) { document.querySelector(`[data-toast="${CSS.escape(String(id))}"]`)?.remove(); },
      },
      saveBar: {
        async show(id) { document.getElementById(id)?.setAttribute("showing", ""); },
        async hide(id) { document.getElementById(id)?.removeAttribute("showing"); },
        async toggle(id) { document.getElementById(id)?.toggleAttribute("showing"); },
        async leaveConfirmation() {
          if (saveBars().some((bar) => bar.showing)) await confirmLeaving();
        },
      },
      scopes: localScopes(),
    };
  }

  // App Bridge's scopes API as shopify.app.toml declares the app's scopes: the required ones
  // granted at install; an optional one granted when requested, as if the merchant accepted
  // Shopify's permission modal (kept for this page load only).
  function localScopes() {
    const required = ["read_orders", "write_customers"];
    const optional = ["write_orders"];
    const granted = new Set(required);
    const detail = () => ({ granted: [...granted], required: [...required], optional: [...optional] });
    return {
      async query() { return detail(); },
      async request(scopes) {
        const unknown = scopes.filter((scope) => !optional.includes(scope));
        if (unknown.length) throw new Error(`not optional scopes of this app: ${unknown.join(", ")}`);
        for (const scope of scopes) granted.add(scope);
        return { result: "granted-all", detail: detail() };
      },
      async revoke(scopes) {
        for (const scope of scopes) if (optional.includes(scope)) granted.delete(scope);
        return { revoked: scopes.filter((scope) => optional.includes(scope)) };
      },
    };
  }
})();
