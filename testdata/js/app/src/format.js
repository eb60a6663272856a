// Formatting with non-ASCII text: the throwing lines carry accented
// letters and an emoji before the throw, so UTF-16 columns differ from
// byte and code point columns.
export function formatPrice(amount) {
  return amount.toFixed(2) + ' €';
}

export function assertPositive(price, name) {
  const label = `Prix «${name}» ünïcödé 😀`; if (!(price > 0)) { throw new TypeError(`${label}: price must be positive, got ${price}`); }
}

export const shout = (text) => {
  const loud = text.toUpperCase() + ' 🎉 ¡olé!'; if (loud.length > 30) { throw new Error('trop long — ' + loud); }
  return loud;
};

globalThis.__stacklensFixtureFormat = [formatPrice, assertPositive, shout];
