/**
 * Whether `text[from, to)` is a valid Host field value (RFC 9110 §7.2): `uri-host [ ":" port ]`,
 * where uri-host is an IP-literal in brackets or a reg-name/IPv4 of unreserved characters,
 * percent-encodings and sub-delims (RFC 3986 §3.2.2), and port is digits. RFC 9112 §3.2 has a
 * request with any other Host answered 400: Node's path and the fast lane (which hands such a
 * request to Node) both check it here. A loop over character codes: the lane calls it on every
 * request it reads, without cutting a string.
 */
export function isHostValue(text: string, from = 0, to = text.length): boolean {
  let i = from;
  if (i < to && text.charCodeAt(i) === 91 /* [ */) {
    const close = text.indexOf(']', i);
    if (close === -1 || close >= to) return false;
    for (i++; i < close; i++) {
      const c = text.charCodeAt(i);
      if (!((isAlnum(c) || c === 58 /* : */ || c === 46) /* . */)) return false;
    }
    i = close + 1;
  } else {
    for (; i < to; i++) {
      const c = text.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (!isRegName(c)) return false;
    }
  }
  if (i === to) return true;
  if (text.charCodeAt(i) !== 58 /* : */) return false;
  for (i++; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** unreserved, '%' and sub-delims: A-Z a-z 0-9 - . _ ~ % ! $ & ' ( ) * + , ; = */
function isRegName(c: number): boolean {
  if (isAlnum(c)) return true;
  switch (c) {
    case 45: // -
    case 46: // .
    case 95: // _
    case 126: // ~
    case 37: // %
    case 33: // !
    case 36: // $
    case 38: // &
    case 39: // '
    case 40: // (
    case 41: // )
    case 42: // *
    case 43: // +
    case 44: // ,
    case 59: // ;
    case 61: // =
      return true;
    default:
      return false;
  }
}
