import { parseOrder, validate, totalOf } from "./cart.js";

export function checkout(raw) {
  const order = parseOrder(raw);
  if (order.items.length === 0) {
    throw new Error("empty cart");
  }
  validate(order);
  return totalOf(order);
}

globalThis.checkout = checkout;
