/** U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, wherever they are. */
const LINE_TERMINATORS = /[\u2028\u2029]/g;

function escapeTerminator(c: string): string {
  return c === '\u2028' ? '\\u2028' : '\\u2029';
}

/**
 * The JSONP script `/**∕NAME(json);` for a validated callback name and JSON text. JSON allows raw
 * U+2028/U+2029 inside strings, but JavaScript before ES2019 reads them as line terminators, and a
 * line terminator inside a string literal is a SyntaxError: the script never runs and a poll loop
 * sticks on that cursor. Escaped as `\u2028`/`\u2029` they are the same string in both languages.
 * Every script the hub writes (JSONP subscribe answers, JSONP errors, publish callbacks) is built
 * here.
 */
export function jsonpScript(callback: string, json: string): string {
  return `/**/${callback}(${json.replace(LINE_TERMINATORS, escapeTerminator)});`;
}
