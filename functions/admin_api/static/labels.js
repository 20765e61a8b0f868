// The words the page uses for the values strategies and the figures' breakdowns name: how an
// order was to be paid, the category of its newest declined payment. One list, so the
// strategies' editor and the dashboard never word the same value two ways.

export const METHODS = {
  card: "Card or wallet at checkout", bank_transfer: "Bank transfer", cash_on_delivery: "Cash on delivery",
  bnpl: "Buy now, pay later", other: "Another method",
};

// As a strategy's condition reads them: each with what it means.
export const DECLINES = {
  hard: "Hard: the bank will never approve", soft: "Soft: may pass later", expired_or_incorrect: "Expired or incorrect card details",
  authentication_required: "Needs the customer to authenticate", unknown: "Unknown reason", none: "No declined payment",
};

// As a table's row names them.
export const DECLINES_SHORT = {
  hard: "Hard decline", soft: "Soft decline", expired_or_incorrect: "Expired or incorrect card",
  authentication_required: "Needs authentication", unknown: "Unknown reason", none: "No declined payment",
};

// The methods a strategy that cancels unpaid orders may be limited to (the server's
// `strategies.choices.manual_methods`, when it offers them).
export const MANUAL_METHODS = ["bank_transfer", "cash_on_delivery", "other"];
