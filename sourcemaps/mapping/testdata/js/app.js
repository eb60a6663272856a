// A small but real-looking program for the source-map ground-truth tests:
// classes, closures, async functions, generators, non-ASCII identifiers and
// strings (so UTF-16 columns differ from byte and rune columns), and an
// astral-plane emoji in a string on a line that throws.
import { Grüße, formatPrice, retry } from './util.js';

export class Warenkorb {
  #items = new Map();
  static größe = 0;

  constructor(owner = 'Zoë') {
    this.owner = owner;
    this.created = Date.now();
  }

  add(name, price, qty = 1) {
    const prev = this.#items.get(name);
    const entry = prev ? { ...prev, qty: prev.qty + qty } : { name, price, qty };
    this.#items.set(name, entry);
    Warenkorb.größe += qty;
    return this;
  }

  *entries() {
    for (const [key, value] of this.#items) {
      yield [key, value];
    }
  }

  get total() {
    let sum = 0;
    for (const [, { price, qty }] of this.entries()) sum += price * qty;
    return sum;
  }

  checkout(payment) {
    const summary = `Käufer ${this.owner}: ${formatPrice(this.total)} — 日本語テキスト`;
    if (!payment || payment.amount < this.total) {
      const grund = payment ? `zu wenig 💸 ${payment.amount}` : 'nichts 🚫'; throw new Error(`Zahlung fehlgeschlagen 💥 für ${summary}: ${grund}`);
    }
    return summary;
  }
}

function makeCounter(start) {
  let count = start;
  return {
    inc: () => ++count,
    dec: () => --count,
    get value() { return count; },
  };
}

const ñandú = (x) => x.map((v, i) => v * i).filter(Boolean);

export async function processOrder(cart, fetcher) {
  const counter = makeCounter(0);
  const prices = await Promise.all(
    ['äpfel', 'birnen', 'кофе', '🍓 erdbeeren'].map(async (item) => {
      counter.inc();
      const price = await retry(() => fetcher(item), 3);
      cart.add(item, price);
      return price;
    }),
  );
  const weighted = ñandú(prices);
  if (weighted.length > 10) {
    console.log(Grüße('Welt'), counter.value);
  }
  return cart.checkout({ amount: weighted.reduce((a, b) => a + b, 0) / 100 });
}

export function main() {
  const cart = new Warenkorb('Jürgen 🙂');
  return processOrder(cart, async (item) => item.length * 1.5).catch((err) => {
    const wrapped = new Error('order failed: ' + err.message);
    wrapped.cause = err;
    throw wrapped;
  });
}
