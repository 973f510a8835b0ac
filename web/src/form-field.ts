import { h, uid, type Child } from "./dom";
import type { FieldProblem } from "./api-client";

export type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

/** A labelled control with a hint and an error line wired by aria attributes. */
export interface FormField {
  name: string;
  element: HTMLElement;
  /** Mutable: a text box can be swapped for a picker once choices are known ({@link swapControl}). */
  control: Control;
  setError(message: string | null): void;
}

export interface FormFieldOptions {
  name: string;
  label: string;
  control: Control;
  hint?: Child;
  /** Checkboxes put the label after the box. */
  inline?: boolean;
}

/**
 * Label + control + hint + error, the one way the page builds a field.
 *
 * @example
 * ```ts
 * const host = formField({ name: "host", label: "Host", control: h("input", { type: "text" }) });
 * host.setError("must not be empty");
 * ```
 */
export function formField(options: FormFieldOptions): FormField {
  const { control } = options;
  const id = uid(`f-${options.name}`);
  control.id = id;
  control.name = options.name;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const hint = options.hint ? h("p", { class: "field-hint", id: hintId }, options.hint) : null;
  control.setAttribute("aria-describedby", [hint ? hintId : null, errorId].filter(Boolean).join(" "));
  const label = h("label", { for: id }, options.label);
  const element = options.inline
    ? h("div", { class: "field field-inline" }, h("div", { class: "field-row" }, control, label), hint, error)
    : h("div", { class: "field" }, label, control, hint, error);
  return {
    name: options.name,
    element,
    control,
    setError(message) {
      error.textContent = message ?? "";
      error.hidden = message === null;
      if (message === null) control.removeAttribute("aria-invalid");
      else control.setAttribute("aria-invalid", "true");
      element.classList.toggle("has-error", message !== null);
    },
  };
}

/**
 * Show the API's `details.fields` next to their fields; returns the problems
 * that name no field on the form (shown in the form's summary).
 */
export function showFieldProblems(fields: readonly FormField[], problems: readonly FieldProblem[]): FieldProblem[] {
  const byName = new Map(fields.map((f) => [f.name, f]));
  for (const field of fields) field.setError(null);
  const unplaced: FieldProblem[] = [];
  let first: FormField | undefined;
  for (const problem of problems) {
    // "limit, foo" (unknown keys) or "a.b" (nested) name the first part.
    const field = byName.get(problem.field.split(/[.,\s]/)[0]);
    if (field) {
      field.setError(`${labelOf(field)} ${problem.message}`);
      first ??= field;
    } else {
      unplaced.push(problem);
    }
  }
  first?.control.focus();
  return unplaced;
}

function labelOf(field: FormField): string {
  return field.element.querySelector("label")?.textContent ?? field.name;
}

/** A `<select>` of options (value, text). */
export function select(options: readonly (readonly [string, string])[], value?: string): HTMLSelectElement {
  const element = h("select", null, options.map(([v, text]) => h("option", { value: v }, text)));
  if (value !== undefined) element.value = value;
  return element;
}

/** Put `next` where the field's control is, keeping its id, name, label and descriptions. */
export function swapControl(field: FormField, next: Control): void {
  const previous = field.control;
  next.id = previous.id;
  next.name = previous.name;
  const describedBy = previous.getAttribute("aria-describedby");
  if (describedBy) next.setAttribute("aria-describedby", describedBy);
  next.disabled = previous.disabled;
  previous.replaceWith(next);
  field.control = next;
}
