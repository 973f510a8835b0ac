import { h } from "./dom";

/**
 * Ask before something that cannot be undone, in a modal `<dialog>`
 * (keyboard: Tab between the buttons, Escape cancels). Resolves true on confirm.
 *
 * @example
 * ```ts
 * if (await confirmDialog({ title: "Delete support?", body: "...", confirmLabel: "Delete account" })) remove();
 * ```
 */
export function confirmDialog(options: { title: string; body: string; confirmLabel: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "button", value: "cancel" }, "Cancel");
    const confirm = h("button", { type: "button", class: "button danger", value: "confirm" }, options.confirmLabel);
    const titleId = `dialog-title-${Date.now()}`;
    const dialog = h(
      "dialog",
      { class: "confirm-dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId }, options.title),
      h("p", null, options.body),
      h("div", { class: "actions" }, cancel, confirm),
    );
    const finish = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => finish(false));
    confirm.addEventListener("click", () => finish(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
