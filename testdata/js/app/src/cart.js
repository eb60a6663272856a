// A shopping cart: classes, getters, static methods and closures.
import { formatPrice, assertPositive } from './format.js';

export class Cart {
  constructor(owner) {
    this.owner = owner;
    this.items = [];
  }

  addItem(name, price, quantity) {
    assertPositive(price, name);
    this.items.push({ name, price, quantity });
    return this;
  }

  total() {
    let sum = 0;
    for (const item of this.items) {
      sum += item.price * item.quantity;
    }
    if (sum > 1000) {
      throw new RangeError(`total ${formatPrice(sum)} is over the limit for ${this.owner}`);
    }
    return sum;
  }

  static fromJSON(json) {
    const data = JSON.parse(json);
    const cart = new Cart(data.owner);
    for (const item of data.items) {
      cart.addItem(item.name, item.price, item.quantity);
    }
    return cart;
  }
}

export function makeDiscounter(rate) {
  let applied = 0;
  return function applyDiscount(cart) {
    applied++;
    if (applied > 1) {
      throw new Error('discount ' + rate + ' already applied to ' + cart.owner);
    }
    return cart.total() * (1 - rate);
  };
}

globalThis.__stacklensFixtureCart = [makeDiscounter];
