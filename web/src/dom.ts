/*
 * A tiny element builder. Text is always a text node and attributes are set
 * one by one, so nothing a mail server or a user typed is ever parsed as
 * HTML in the page's origin (there is no innerHTML anywhere in the page).
 */

/** What may be a child: a node, text, or nothing (skipped). */
export type Child = Node | string | number | null | undefined | false | readonly Child[];

type Handler<E extends Event = Event> = (event: E) => void;

/** Attributes of {@link h}: `on*` take a function, booleans toggle, everything else is set as text. */
export interface Attrs {
  class?: string | null | (string | false | null | undefined)[];
  onclick?: Handler<MouseEvent>;
  onsubmit?: Handler<SubmitEvent>;
  oninput?: Handler;
  onchange?: Handler;
  onkeydown?: Handler<KeyboardEvent>;
  [name: string]: unknown;
}

/**
 * Build an element.
 *
 * @example
 * ```ts
 * h("button", { type: "button", onclick: () => save() }, "Save");
 * ```
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") {
        element.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value);
      } else if (name.startsWith("on") && typeof value === "function") {
        element.addEventListener(name.slice(2), value as EventListener);
      } else if (name === "value" && "value" in element) {
        (element as HTMLInputElement).value = String(value);
      } else if (name === "checked" && element instanceof HTMLInputElement) {
        element.checked = Boolean(value);
      } else {
        element.setAttribute(name, value === true ? "" : String(value));
      }
    }
  }
  append(element, children);
  return element;
}

/** Append children, flattening arrays and skipping empty ones. */
export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

let nextId = 0;
/** A page-unique id, for label/aria wiring. */
export function uid(prefix: string): string {
  return `${prefix}-${++nextId}`;
}
