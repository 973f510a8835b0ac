import { ApiProblem, type ApiClient } from "../api-client";
import type { Session } from "../api-types";
import { h } from "../dom";
import { formField } from "../form-field";

/** The sign-in form; calls `onSignedIn` with the new session. */
export function loginView(api: ApiClient, onSignedIn: (session: Session) => void): HTMLElement {
  const username = formField({ name: "username", label: "User name", control: h("input", { type: "text", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" }) });
  const password = formField({ name: "password", label: "Password", control: h("input", { type: "password", autocomplete: "current-password", required: true }) });
  const status = h("p", { class: "form-status", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "button primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login-form card",
      "aria-labelledby": "login-title",
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault();
        status.hidden = true;
        submit.disabled = true;
        try {
          onSignedIn(await api.signIn(username.control.value.trim(), password.control.value));
        } catch (error) {
          status.hidden = false;
          status.textContent =
            error instanceof ApiProblem && error.code === "INVALID_CREDENTIALS" ? "The user name or password is wrong." : error instanceof Error ? error.message : String(error);
          (password.control as HTMLInputElement).select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", { id: "login-title" }, "Sign in to Inbound"),
    username.element,
    password.element,
    status,
    h("div", { class: "actions" }, submit),
  );
  return h("main", { id: "main", class: "login-page" }, form);
}
