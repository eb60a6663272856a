// Helpers for app.js; a second module so bundles have several sources.
export function Grüße(name) {
  return `Grüße, ${name}! 👋`;
}

const formatter = new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' });

export function formatPrice(value) {
  if (Number.isNaN(value)) throw new TypeError('Preis ist keine Zahl 🤔');
  return formatter.format(value);
}

export async function retry(fn, attempts) {
  let lastError;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 2 ** i));
    }
  }
  throw lastError;
}

export class Ereignis {
  constructor(type, detail) {
    this.type = type;
    this.detail = detail ?? { zeit: new Date().toISOString(), ort: 'Köln' };
  }
  toString() {
    return `[Ereignis ${this.type}] ${JSON.stringify(this.detail)}`;
  }
}
