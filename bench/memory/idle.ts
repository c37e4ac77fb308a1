/**
 * The reference of `bench/memory.ts`: Node with the tsx loader and the inspector, as the client
 * is started there, running nothing. The client's figures less these are what the engine itself
 * holds.
 */
setInterval(() => undefined, 60_000);
console.log('READY');
