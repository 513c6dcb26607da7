// Cairn web tracker: the public API (js/cairn.js). Every function but init() throws
// an Error with a message when init() has not completed or an argument is invalid.

export type Purpose = 'analytics' | 'personalization' | 'marketing';
export interface ConsentState { analytics: boolean; personalization: boolean; marketing: boolean; }
/** `true` / `false`: every purpose granted / refused. */
export type ConsentInput = boolean | Partial<ConsentState>;
export type Properties = Record<string, unknown>;
export interface EventOptions { /** Consent purpose the event needs (default 'analytics'). */ purpose?: Purpose; }

export interface InitOptions {
  /** The collector write key (sent as Basic auth and, for beacons, in the body). */
  writeKey: string;
  /** Collector base URL; default: the page's own origin. */
  endpoint?: string;
  /** Consent to apply now; default: what the visitor chose earlier (nothing on a first visit). */
  consent?: ConsentInput;
  /** 'opt-in' (default): nothing is collected or stored before consent. */
  consentMode?: 'opt-in' | 'opt-out';
  /** HMAC key for user ids, e-mails and phones; hashing is on when given. */
  hashKey?: string;
  hashIdentities?: boolean;
  /** Page view on load and on every history.pushState / replaceState / popstate route (default true). */
  autoPageViews?: boolean;
  /** Clicks on elements with data-cairn-event="name" and data-cairn-* properties (default true). */
  trackClicks?: boolean;
  /** Upload when this many events are queued (default 20). */
  flushAt?: number;
  /** Upload this long (ms) after the oldest queued event (default 10000). */
  flushInterval?: number;
  maxQueueEvents?: number;
  maxQueueBytes?: number;
  /** First retry delay ceiling in ms (default 1000). */
  backoffBase?: number;
  sessionTimeout?: number;
  /** Merged into every event's context (library, userAgent, locale, timezone, screen are set for you). */
  context?: Record<string, unknown>;
  /** Where cairn_wasm_bg.wasm is (default: next to cairn_wasm.js). */
  wasmUrl?: string | URL;
}

/** Loads the core, opens the stored queue and starts tracking. Call once; later calls return the same promise. */
export function init(options: InitOptions): Promise<void>;
/** Returns false when the event's purpose is not consented (it is then neither queued nor stored). */
export function track(event: string, properties?: Properties, options?: EventOptions): boolean;
/** A page view; name defaults to location.pathname, properties get path, url, search, title, referrer. */
export function page(name?: string, properties?: Properties): boolean;
export function identify(userId: string, traits?: Properties): boolean;
export function alias(newUserId: string): boolean;
export function group(groupId: string, traits?: Properties): boolean;
/** Logout: new anonymous id, no user, new session. */
export function reset(): void;
/** Revoking a purpose deletes its queued events from storage at once (and in other tabs). */
export function setConsent(consent: ConsentInput): void;
export function getConsent(): ConsentState;
/** Resolves when everything tracked before the call is delivered; rejects on the first failed attempt, or at once while backing off for more than 30 s (events stay queued). */
export function flush(): Promise<void>;
export function setAutoPageViews(enabled: boolean): void;
export function setClickTracking(enabled: boolean): void;
export function anonymousId(): string;
/** Events waiting, including the upload in flight. */
export function queued(): number;

export function productViewed(productId: string, properties?: Properties, options?: EventOptions): boolean;
export function click(target: string, properties?: Properties, options?: EventOptions): boolean;
export function search(query: string, properties?: Properties, options?: EventOptions): boolean;
export function searchResultClick(query: string, productId: string, position: number, properties?: Properties, options?: EventOptions): boolean;
export function filterApplied(filter: string, value: string, properties?: Properties, options?: EventOptions): boolean;
export function addToCart(productId: string, quantity: number, properties?: Properties, options?: EventOptions): boolean;
export function removeFromCart(productId: string, quantity: number, properties?: Properties, options?: EventOptions): boolean;
export function purchase(orderId: string, total: number, currency: string, properties?: Properties, options?: EventOptions): boolean;
export function rating(productId: string, rating: number, properties?: Properties, options?: EventOptions): boolean;
export function review(productId: string, rating: number, properties?: Properties, options?: EventOptions): boolean;
export function wishlistAdd(productId: string, properties?: Properties, options?: EventOptions): boolean;
export function wishlistRemove(productId: string, properties?: Properties, options?: EventOptions): boolean;
export function collectionAdd(productId: string, properties?: Properties, options?: EventOptions): boolean;
export function tradeOffer(productId: string, offerId: string, properties?: Properties, options?: EventOptions): boolean;
export function signup(method: string, properties?: Properties, options?: EventOptions): boolean;
export function videoPlay(videoId: string, properties?: Properties, options?: EventOptions): boolean;
export function videoComplete(videoId: string, properties?: Properties, options?: EventOptions): boolean;
export function formStart(formId: string, properties?: Properties, options?: EventOptions): boolean;
export function formSubmit(formId: string, properties?: Properties, options?: EventOptions): boolean;
export function scrollDepth(percent: number, properties?: Properties, options?: EventOptions): boolean;
export function timeOnPage(durationMs: number, properties?: Properties, options?: EventOptions): boolean;
export function quickExit(dwellMs: number, properties?: Properties, options?: EventOptions): boolean;
/** Usually with { purpose: 'personalization' }. */
export function hideItem(productId: string, properties?: Properties, options?: EventOptions): boolean;
