// Ground-truth program for scopes tests. Every probed function calls
// record(expectedName, itself); expectedName is the name Sentry users see
// (the scope name mapped back through the source map).
const records = [];
function record(label, fn) {
  const saved = Error.prepareStackTrace;
  Error.prepareStackTrace = (_, callSites) => callSites;
  const stack = new Error().stack;
  Error.prepareStackTrace = saved;
  const site = stack[1];
  records.push({
    label,
    line: site.getLineNumber(),
    col: site.getColumnNumber(),
    src: typeof fn === "function" ? fn.toString() : null,
  });
}

class Shape {
  #secret = 42;
  constructor(kind) {
    this.kind = kind;
    record("new Shape", Shape);
  }
  static create(kind) {
    record("Shape.create", Shape.create);
    return new Shape(kind);
  }
  get area() {
    record("get Shape.area", Object.getOwnPropertyDescriptor(Shape.prototype, "area").get);
    return this.#secret;
  }
  set area(v) {
    record("set Shape.area", Object.getOwnPropertyDescriptor(Shape.prototype, "area").set);
    this.#secret = v;
  }
  describe() {
    record("Shape.describe", Shape.prototype.describe);
    return this.kind + this.#hidden();
  }
  #hidden() {
    record("Shape.#hidden", this.#hidden);
    return "!";
  }
}

class Circle extends Shape {
  constructor(r) {
    super("circle");
    this.r = r;
  }
  describe() {
    record("Circle.describe", Circle.prototype.describe);
    return super.describe() + this.r;
  }
}

const Widget = class {
  render(items) {
    record("Widget.render", Widget.prototype.render);
    return items.map((item) => {
      record("<anonymous>", null);
      return item * 2;
    });
  }
};

function makeCounter(start) {
  let n = start;
  record("makeCounter", makeCounter);
  return function () {
    record("<anonymous>", null);
    return ++n;
  };
}

async function loadData(url) {
  await null;
  record("loadData", loadData);
  return url.length;
}

function* sequence(limit) {
  record("sequence", sequence);
  for (let i = 0; i < limit; i++) yield i;
}

const double = (x) => {
  record("double", double);
  return x * 2;
};

const api = {
  fetchUser(id) {
    record("api.fetchUser", api.fetchUser);
    return { id };
  },
  save: function (user) {
    record("api.save", api.save);
    return !!user;
  },
  remove: (id) => {
    record("api.remove", api.remove);
    return id;
  },
  get size() {
    record("get api.size", Object.getOwnPropertyDescriptor(api, "size").get);
    return 3;
  },
  handlers: {
    onClick(ev) {
      record("api.handlers.onClick", api.handlers.onClick);
      return ev;
    },
  },
};

const ns = { util: {} };
ns.util.format = function (value) {
  record("ns.util.format", ns.util.format);
  return String(value);
};

function Legacy(name) {
  this.name = name;
  this.tick = function () {
    record("this.tick", null);
    return name;
  };
}
Legacy.prototype.start = function () {
  record("Legacy.prototype.start", Legacy.prototype.start);
  return this.tick();
};

function grüßen(wer) {
  record("grüßen", grüßen);
  return "Grüße, " + wer + " — ✓";
}

const smile = "😀 emoji 𝒳"; function afterEmoji() { record("afterEmoji", afterEmoji); return smile.length; }

const tally = [1, 2, 3].reduce(function (acc, v) {
  record("<anonymous>", null);
  return acc + v;
}, 0);

// `arguments` keeps terser from inlining the IIFE.
const iife = (function () {
  record("<anonymous>", null);
  return arguments.length;
})(1, 2);

async function main() {
  const s = Shape.create("square");
  s.area = 7;
  s.area;
  s.describe();
  new Circle(2).describe();
  new Widget().render([1]);
  const next = makeCounter(1);
  next();
  await loadData("https://example.com");
  [...sequence(2)];
  double(3);
  api.fetchUser(1);
  api.save({});
  api.remove(2);
  api.size;
  api.handlers.onClick("e");
  ns.util.format(5);
  new Legacy("x").start();
  grüßen("Welt");
  afterEmoji();
  console.log(JSON.stringify({ tally, iife, records }));
}
main();
