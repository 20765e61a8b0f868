// Money and dates in the staff member's locale. Amounts arrive as exact decimal text.

const locale = navigator.language || "en-US";

export function money(value) {
  if (!value) return "—";
  const digits = fractionDigits(value.currency);
  const [whole, fraction = ""] = value.amount.split(".");
  // Intl formats numbers; a decimal string keeps every digit of large amounts exact.
  const formatter = new Intl.NumberFormat(locale, {
    style: "currency", currency: value.currency,
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
  return formatter.format(`${whole}.${fraction.padEnd(digits, "0")}`);
}

export function moneyList(values) {
  return values && values.length ? values.map(money) : ["—"];
}

export function fractionDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return 2;
  }
}

export function date(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleDateString(locale, { year: "numeric", month: "short", day: "numeric" });
}

export function dateTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(locale, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)}%`;
}

// "12.50" in the currency's minor units (the API's minimum amounts), and back.
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
