/*
 * Unicode's invisible direction controls (LRM/RLM, the embeddings and
 * overrides U+202A–E, the isolates U+2066–9) make a name display in another
 * order than it is: "invoice\u202Efdp.exe" shows as "invoiceexe.pdf". In a
 * file name they serve only to deceive, so they are removed from attachment
 * names wherever one is stored, shown, downloaded or saved.
 */
const BIDI_CONTROLS = /[\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/**
 * `name` without Unicode direction controls.
 *
 * @example
 * ```ts
 * withoutBidiControls("invoice\u202Efdp.exe"); // "invoicefdp.exe": the real extension shows
 * ```
 */
export function withoutBidiControls(name: string): string {
  return name.replace(BIDI_CONTROLS, "");
}
