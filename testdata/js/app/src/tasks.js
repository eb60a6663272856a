// Async functions and callbacks.
import { shout } from './format.js';

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function loadProfile(id) {
  await delay(1);
  const profile = await fetchProfile(id);
  return profile.name;
}

async function fetchProfile(id) {
  await delay(1);
  if (id < 0) {
    throw new Error(`no profile ${id}`);
  }
  return { name: 'user' + id };
}

export function eachItem(items, callback) {
  items.forEach(function visitItem(item, index) {
    callback(item, index);
  });
}

export function announceAll(words) {
  const results = [];
  eachItem(words, function announce(word) {
    results.push(shout(word));
  });
  return results;
}

globalThis.__stacklensFixtureTasks = [delay, fetchProfile, eachItem, announceAll, loadProfile];
