export function parseOrder(raw) {
  const order = JSON.parse(raw);
  order.items = order.items || [];
  return order;
}

export function validate(order) {
  order.items.forEach(function checkItem(item, index) {
    if (!(item.price >= 0)) {
      throw new Error("item " + index + " has a bad price");
    }
  });
}

export function totalOf(order) {
  return order.items.reduce(function addPrice(sum, item) {
    return sum + item.price * item.quantity;
  }, 0);
}
