// Runs every scenario, catches what each throws and returns the errors.
import { Cart, makeDiscounter } from './cart.js';
import { announceAll, loadProfile } from './tasks.js';

function overLimit() {
  const cart = new Cart('Zoë');
  cart.addItem('piano', 900, 1).addItem('bench', 150, 1);
  return cart.total();
}

function badPrice() {
  return Cart.fromJSON('{"owner":"Łukasz","items":[{"name":"crème brûlée","price":-3,"quantity":2}]}');
}

function discountTwice() {
  const cart = new Cart('Åsa').addItem('book', 12, 2);
  const discount = makeDiscounter(0.1);
  discount(cart);
  return discount(cart);
}

function tooLoud() {
  return announceAll(['hi', 'this sentence is far too long to shout']);
}

async function missingProfile() {
  return loadProfile(-7);
}

const scenarios = { overLimit, badPrice, discountTwice, tooLoud, missingProfile };

// A second reference to every function keeps minifiers from inlining them
// into their single call site: the minified run then has the same frames as
// the original, which is what the tests compare.
globalThis.__stacklensFixtureFunctions = [overLimit, badPrice, discountTwice, tooLoud, missingProfile, runScenarios];

export async function runScenarios(only) {
  const out = [];
  for (const [name, run] of Object.entries(scenarios)) {
    if (only && name !== only) {
      continue;
    }
    try {
      await run();
      out.push({ scenario: name, stack: null });
    } catch (err) {
      out.push({ scenario: name, stack: err.stack, error: err });
    }
  }
  return out;
}
