// Money and times for the staff member's locale. Money arrives as {currency, minor, amount}:
// the currency's minor units decide the decimals (JPY none, KWD three); a time always says
// which zone it is in.

const locale = navigator.language || "en-US";

export function fractionDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

// "USD 12.50" from 1250 minor units: the decimal string keeps every digit of large amounts exact.
export function moneyMinor(minor, currency) {
  if (minor === null || minor === undefined || !currency) return "—";
  const digits = fractionDigits(currency);
  const negative = minor < 0;
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  const decimal = digits ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  try {
    return new Intl.NumberFormat(locale, {
      style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(`${negative ? "-" : ""}${decimal}`);
  } catch {
    return `${negative ? "-" : ""}${currency} ${decimal}`;
  }
}

export function money(value) {
  if (!value) return "—";
  return moneyMinor(value.minor, value.currency);
}

// The browser's zone unless one is given (a customer's): "6 Dec 2026, 09:10 CET".
export function dateTime(iso, timeZone = undefined) {
  if (!iso) return "—";
  try {
    return new Date(iso).toLocaleString(locale, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZone, timeZoneName: "short",
    });
  } catch {
    return new Date(iso).toISOString();
  }
}

export function timeOnly(iso, timeZone = undefined) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit", timeZone, timeZoneName: "short" });
}

// A calendar day ("2026-11-02") as it is: no zone shift.
export function date(iso) {
  if (!iso) return "—";
  const day = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? `${iso}T00:00:00Z` : iso;
  return new Date(day).toLocaleDateString(locale, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
}

export function month(yyyyMm) {
  return new Date(`${yyyyMm}-01T00:00:00Z`).toLocaleDateString(locale, { year: "numeric", month: "short", timeZone: "UTC" });
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

// "12.50" in the currency's minor units, and back (settings' minimum amounts).
export function toMinor(text, currency) {
  const digits = fractionDigits(currency);
  const match = /^(\d{1,12})(?:[.,](\d*))?$/.exec(String(text).trim());
  if (!match || (match[2] || "").length > digits) return null;
  return Number(match[1]) * 10 ** digits + Number((match[2] || "").padEnd(digits, "0") || 0);
}

export function fromMinor(minor, currency) {
  const digits = fractionDigits(currency);
  if (!digits) return String(minor);
  const text = String(minor).padStart(digits + 1, "0");
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

export function isoDay(d) {
  return d.toISOString().slice(0, 10);
}
