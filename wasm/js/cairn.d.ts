// Cairn web tracker: the public API (js/cairn.js). Every function but init() throws
// an Error with a message when init() has not completed or an argument is invalid.

export type Purpose = 'analytics' | 'personalization' | 'marketing';
export interface ConsentState { analytics: boolean; personalization: boolean; marketing: boolean; }
/** `true` / `false`: every purpose granted / refused. */
export type ConsentInput = boolean | Partial<ConsentState>;
export type Properties = Record<string, unknown>;
export interface EventOptions { /** Consent purpose the event needs (default 'analytics'). */ purpose?: Purpose; }

/** The autocapture switches of `init` (each default false when an object is given). */
export interface AutocaptureOptions {
  /** scroll_depth at 25, 50, 75 and 100 % of the page, once each per page. */
  scroll?: boolean;
  /** time_on_page with the page's visible time, when the page is left. */
  time?: boolean;
  /** quick_exit when the page is left within this many ms (true: 10000). */
  quickExit?: boolean | number;
  /** page_exit with the engaged time (visible, input or scroll within 10 s), visible time and deepest scroll. */
  pageExit?: boolean;
  /** link_click for links followed, internal or external. */
  links?: boolean;
  /** download for links to files (by extension, or with a download attribute). */
  downloads?: boolean;
  /** form_start (first input in a form) and form_submit; never field values. */
  forms?: boolean;
  /** product_impression for data-cairn-product elements half visible for 1 s (list: data-cairn-list), batched. */
  impressions?: boolean;
}

interface InitOptionsBase {
  /** The collector write key (sent as Basic auth and, for beacons, in the body). */
  writeKey: string;
  /** Collector base URL; default: the page's own origin. */
  endpoint?: string;
  /** Consent to apply now; default: what the visitor chose earlier (nothing on a first visit). */
  consent?: ConsentInput;
  /** 'opt-in' (default): nothing is collected or stored before consent. */
  consentMode?: 'opt-in' | 'opt-out';
  /** Page view on load and on every history.pushState / replaceState / popstate route (default true). */
  autoPageViews?: boolean;
  /** Clicks on elements with data-cairn-event="name" and data-cairn-* properties (default true). */
  trackClicks?: boolean;
  /**
   * Autocapture (default off): `true` for all, or each switch. Every event is subject
   * to consent like any other: nothing is queued, stored or sent before it.
   */
  autocapture?: boolean | AutocaptureOptions;
  /**
   * Page context on every event (default true): `context.page` (url, path, search,
   * title, referrer), `context.campaign` (UTM parameters, kept for the session),
   * `context.viewport`; and in the static context `device.type`, `os.name` and
   * `browser.name` (User-Agent Client Hints where available, else the user agent).
   */
  pageContext?: boolean;
  /** Upload when this many events are queued (default 20). */
  flushAt?: number;
  /** Upload this long (ms) after the oldest queued event (default 1000 on the web: a click reaches the collector, and the recommendations, within about a second). */
  flushInterval?: number;
  maxQueueEvents?: number;
  maxQueueBytes?: number;
  /** First retry delay ceiling in ms (default 1000). */
  backoffBase?: number;
  sessionTimeout?: number;
  /** Merged into every event's context (library, userAgent, locale, timezone, screen are set for you). */
  context?: Record<string, unknown>;
  /** Where cairn_wasm_bg.wasm is (default: next to cairn.js). */
  wasmUrl?: string | URL;
}

/** Identities (user ids, e-mails, phones) are HMAC-hashed on the device with the project's
 *  hash key, as on mobile: `hashKey` is required unless `hashIdentities: false`. */
export type InitOptions = InitOptionsBase & (
  | { hashKey: string; hashIdentities?: true }
  | { hashIdentities: false; hashKey?: string }
);

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

// --- generated by cairn-codegen from cairn-protocol's event table: do not edit (cargo run -p cairn-codegen) ---
/** One line item of a checkout or purchase. */
export interface LineItem {
  /** The product's id (SKU). */ product_id: string;
  /** Unit price. At least 0. */ price: number;
  /** Units. Whole number, 1 to 2147483647. */ quantity: number;
  /** Category path. */ category?: string;
  /** Product name. */ name?: string;
  /** Brand. */ brand?: string;
  /** Variant. */ variant?: string;
}
/** Optional properties of `page_view` (custom ones allowed too). */
export interface PageViewProperties {
  /** URL path. */ path?: string;
  /** Full URL. */ url?: string;
  /** Document title. */ title?: string;
  /** The referring URL. */ referrer?: string;
  /** URL query string. */ search?: string;
  [key: string]: unknown;
}
/** A page was shown (Segment `page`; the web tracker sends it by itself). `page_view`, purpose analytics. `name`: The page's name. */
export function pageView(name: string, properties?: PageViewProperties): boolean;
/** Optional properties of `screen_view` (custom ones allowed too). */
export interface ScreenViewProperties {
  [key: string]: unknown;
}
/** An app screen was shown (Segment `screen`). `screen_view`, purpose analytics. `name`: The screen's name. */
export function screenView(name: string, properties?: ScreenViewProperties): boolean;
/** Optional properties of `rating` (custom ones allowed too). */
export interface RatingProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** The user rated a product. `rating`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). `rating`: The rating given (the shop's scale, e.g. 1-5). At least 0. */
export function rating(productId: string, rating: number, properties?: RatingProperties, options?: EventOptions): boolean;
/** Optional properties of `review` (custom ones allowed too). */
export interface ReviewProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  /** The review's id in the shop. */ review_id?: string;
  [key: string]: unknown;
}
/** The user reviewed a product (the text stays in the shop). `review`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). `rating`: The review's rating. At least 0. */
export function review(productId: string, rating: number, properties?: ReviewProperties, options?: EventOptions): boolean;
/** Optional properties of `like` (custom ones allowed too). */
export interface LikeProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** The user liked a product. `like`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function like(productId: string, properties?: LikeProperties, options?: EventOptions): boolean;
/** Optional properties of `comment` (custom ones allowed too). */
export interface CommentProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  /** The comment's id in the shop. */ comment_id?: string;
  [key: string]: unknown;
}
/** The user commented on a product (the text stays in the shop). `comment`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function comment(productId: string, properties?: CommentProperties, options?: EventOptions): boolean;
/** Optional properties of `share` (custom ones allowed too). */
export interface ShareProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  /** Where it was shared: email, link, a network's name. */ channel?: string;
  [key: string]: unknown;
}
/** The user shared a product. `share`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function share(productId: string, properties?: ShareProperties, options?: EventOptions): boolean;
/** Optional properties of `survey_response` (custom ones allowed too). */
export interface SurveyResponseProperties {
  /** The chosen answer's id (never free text). */ answer?: string;
  /** A numeric answer (NPS, scale). At least 0. */ score?: number;
  [key: string]: unknown;
}
/** The user answered a survey question. `survey_response`, purpose analytics. `surveyId`: The survey's id. `questionId`: The question's id. */
export function surveyResponse(surveyId: string, questionId: string, properties?: SurveyResponseProperties, options?: EventOptions): boolean;
/** Optional properties of `wishlist_add` (custom ones allowed too). */
export interface WishlistAddProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product was added to the wishlist. `wishlist_add`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function wishlistAdd(productId: string, properties?: WishlistAddProperties, options?: EventOptions): boolean;
/** Optional properties of `collection_add` (custom ones allowed too). */
export interface CollectionAddProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product was added to the user's collection. `collection_add`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function collectionAdd(productId: string, properties?: CollectionAddProperties, options?: EventOptions): boolean;
/** Optional properties of `trade_offer` (custom ones allowed too). */
export interface TradeOfferProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** The user made a trade offer on a product. `trade_offer`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). `offerId`: The offer's id. */
export function tradeOffer(productId: string, offerId: string, properties?: TradeOfferProperties, options?: EventOptions): boolean;
/** Optional properties of `add_to_cart` (custom ones allowed too). */
export interface AddToCartProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product was added to the cart. `add_to_cart`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). `quantity`: Units added or removed. Whole number, 1 to 2147483647. */
export function addToCart(productId: string, quantity: number, properties?: AddToCartProperties, options?: EventOptions): boolean;
/** Optional properties of `checkout_started` (custom ones allowed too). */
export interface CheckoutStartedProperties {
  /** The order's id, if known yet. */ order_id?: string;
  [key: string]: unknown;
}
/** The user began checking out. `checkout_started`, purpose analytics. `products`: The line items. `total`: Order total, in `currency`. At least 0. `currency`: ISO 4217 currency code, e.g. EUR */
export function checkoutStarted(products: LineItem[], total: number, currency: string, properties?: CheckoutStartedProperties, options?: EventOptions): boolean;
/** Optional properties of `purchase` (custom ones allowed too). */
export interface PurchaseProperties {
  [key: string]: unknown;
}
/** An order was completed. `purchase`, purpose analytics. `orderId`: The order's id. `products`: The line items. `total`: Order total, in `currency`. At least 0. `currency`: ISO 4217 currency code, e.g. EUR */
export function purchase(orderId: string, products: LineItem[], total: number, currency: string, properties?: PurchaseProperties, options?: EventOptions): boolean;
/** Optional properties of `signup` (custom ones allowed too). */
export interface SignupProperties {
  [key: string]: unknown;
}
/** The user created an account. `signup`, purpose analytics. `method`: How: email, google, apple... */
export function signup(method: string, properties?: SignupProperties, options?: EventOptions): boolean;
/** Optional properties of `product_viewed` (custom ones allowed too). */
export interface ProductViewedProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product's detail was viewed (the recommender's "view"). `product_viewed`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function productViewed(productId: string, properties?: ProductViewedProperties, options?: EventOptions): boolean;
/** Optional properties of `product_clicked` (custom ones allowed too). */
export interface ProductClickedProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product was clicked in a listing (the recommender's "click"). `product_clicked`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function productClicked(productId: string, properties?: ProductClickedProperties, options?: EventOptions): boolean;
/** Optional properties of `click` (custom ones allowed too). */
export interface ClickProperties {
  [key: string]: unknown;
}
/** A user-interface element was clicked. `click`, purpose analytics. `target`: What was clicked (an element's name). */
export function click(target: string, properties?: ClickProperties, options?: EventOptions): boolean;
/** Optional properties of `link_click` (custom ones allowed too). */
export interface LinkClickProperties {
  /** The link's text. */ text?: string;
  [key: string]: unknown;
}
/** A link was followed. `link_click`, purpose analytics. `url`: The link's target. `linkType`: Whether it stays on the site. */
export function linkClick(url: string, linkType: 'internal' | 'external', properties?: LinkClickProperties, options?: EventOptions): boolean;
/** Optional properties of `download` (custom ones allowed too). */
export interface DownloadProperties {
  /** Where it came from. */ url?: string;
  [key: string]: unknown;
}
/** A file was downloaded. `download`, purpose analytics. `fileName`: The file's name. */
export function download(fileName: string, properties?: DownloadProperties, options?: EventOptions): boolean;
/** Optional properties of `search` (custom ones allowed too). */
export interface SearchProperties {
  /** How many results it gave. Whole number, 0 to 2147483647. */ result_count?: number;
  [key: string]: unknown;
}
/** A search was run. `search`, purpose analytics. `query`: The query as typed. */
export function search(query: string, properties?: SearchProperties, options?: EventOptions): boolean;
/** Optional properties of `search_result_click` (custom ones allowed too). */
export interface SearchResultClickProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A search result was clicked. `search_result_click`, purpose analytics. `query`: The query that gave the result. `productId`: The product's id in the shop's catalogue (SKU). */
export function searchResultClick(query: string, productId: string, properties?: SearchResultClickProperties, options?: EventOptions): boolean;
/** Optional properties of `filter_applied` (custom ones allowed too). */
export interface FilterAppliedProperties {
  [key: string]: unknown;
}
/** A listing filter was set. `filter_applied`, purpose analytics. `filter`: The filter's name. `value`: Its value. */
export function filterApplied(filter: string, value: string, properties?: FilterAppliedProperties, options?: EventOptions): boolean;
/** Optional properties of `sort_changed` (custom ones allowed too). */
export interface SortChangedProperties {
  /** Direction. */ order?: 'asc' | 'desc';
  [key: string]: unknown;
}
/** A listing's sort order was changed. `sort_changed`, purpose analytics. `sort`: The sort key (price, newest, relevance...). */
export function sortChanged(sort: string, properties?: SortChangedProperties, options?: EventOptions): boolean;
/** Optional properties of `scroll_depth` (custom ones allowed too). */
export interface ScrollDepthProperties {
  [key: string]: unknown;
}
/** The deepest scroll reached on a page. `scroll_depth`, purpose analytics. `percent`: Percent of the page, 0-100. Whole number, 0 to 100. */
export function scrollDepth(percent: number, properties?: ScrollDepthProperties, options?: EventOptions): boolean;
/** Optional properties of `time_on_page` (custom ones allowed too). */
export interface TimeOnPageProperties {
  [key: string]: unknown;
}
/** How long a page was shown. `time_on_page`, purpose analytics. `durationMs`: Milliseconds visible. Whole number, 0 to 9223372036854775807. */
export function timeOnPage(durationMs: number, properties?: TimeOnPageProperties, options?: EventOptions): boolean;
/** Optional properties of `video_play` (custom ones allowed too). */
export interface VideoPlayProperties {
  /** Playback position, in milliseconds. Whole number, 0 to 9223372036854775807. */ position_ms?: number;
  /** The video's length, in milliseconds. Whole number, 0 to 9223372036854775807. */ duration_ms?: number;
  [key: string]: unknown;
}
/** A video started or resumed playing. `video_play`, purpose analytics. `videoId`: The video's id. */
export function videoPlay(videoId: string, properties?: VideoPlayProperties, options?: EventOptions): boolean;
/** Optional properties of `video_pause` (custom ones allowed too). */
export interface VideoPauseProperties {
  /** Playback position, in milliseconds. Whole number, 0 to 9223372036854775807. */ position_ms?: number;
  /** The video's length, in milliseconds. Whole number, 0 to 9223372036854775807. */ duration_ms?: number;
  [key: string]: unknown;
}
/** A video was paused. `video_pause`, purpose analytics. `videoId`: The video's id. */
export function videoPause(videoId: string, properties?: VideoPauseProperties, options?: EventOptions): boolean;
/** Optional properties of `video_progress` (custom ones allowed too). */
export interface VideoProgressProperties {
  /** Playback position, in milliseconds. Whole number, 0 to 9223372036854775807. */ position_ms?: number;
  /** The video's length, in milliseconds. Whole number, 0 to 9223372036854775807. */ duration_ms?: number;
  [key: string]: unknown;
}
/** A video reached a milestone. `video_progress`, purpose analytics. `videoId`: The video's id. `percent`: Percent watched, 0-100. Whole number, 0 to 100. */
export function videoProgress(videoId: string, percent: number, properties?: VideoProgressProperties, options?: EventOptions): boolean;
/** Optional properties of `video_complete` (custom ones allowed too). */
export interface VideoCompleteProperties {
  /** Playback position, in milliseconds. Whole number, 0 to 9223372036854775807. */ position_ms?: number;
  /** The video's length, in milliseconds. Whole number, 0 to 9223372036854775807. */ duration_ms?: number;
  [key: string]: unknown;
}
/** A video played to its end. `video_complete`, purpose analytics. `videoId`: The video's id. */
export function videoComplete(videoId: string, properties?: VideoCompleteProperties, options?: EventOptions): boolean;
/** Optional properties of `page_exit` (custom ones allowed too). */
export interface PageExitProperties {
  /** Milliseconds the page was visible. Whole number, 0 to 9223372036854775807. */ visible_ms?: number;
  /** The deepest scroll reached, percent of the page. Whole number, 0 to 100. */ max_scroll?: number;
  [key: string]: unknown;
}
/** A page was left (closed, or another page of a single-page app shown). `page_exit`, purpose analytics. `engagedMs`: Milliseconds the page was visible with the user active (input or scroll within the last 10 s). Whole number, 0 to 9223372036854775807. */
export function pageExit(engagedMs: number, properties?: PageExitProperties, options?: EventOptions): boolean;
/** Optional properties of `product_impression` (custom ones allowed too). */
export interface ProductImpressionProperties {
  /** The listing they were in (home, search, category...). */ list?: string;
  [key: string]: unknown;
}
/** Products were seen in a listing (at least half visible for one second), batched. `product_impression`, purpose analytics. `productIds`: The products seen, in the order they became visible. */
export function productImpression(productIds: string[], properties?: ProductImpressionProperties, options?: EventOptions): boolean;
/** Optional properties of `form_start` (custom ones allowed too). */
export interface FormStartProperties {
  [key: string]: unknown;
}
/** The user began filling a form. `form_start`, purpose analytics. `formId`: The form's id. */
export function formStart(formId: string, properties?: FormStartProperties, options?: EventOptions): boolean;
/** Optional properties of `form_submit` (custom ones allowed too). */
export interface FormSubmitProperties {
  [key: string]: unknown;
}
/** A form was submitted. `form_submit`, purpose analytics. `formId`: The form's id. */
export function formSubmit(formId: string, properties?: FormSubmitProperties, options?: EventOptions): boolean;
/** Optional properties of `quick_exit` (custom ones allowed too). */
export interface QuickExitProperties {
  [key: string]: unknown;
}
/** A page was left quickly. `quick_exit`, purpose analytics. `dwellMs`: How long it was shown, in milliseconds. Whole number, 0 to 9223372036854775807. */
export function quickExit(dwellMs: number, properties?: QuickExitProperties, options?: EventOptions): boolean;
/** Optional properties of `wishlist_remove` (custom ones allowed too). */
export interface WishlistRemoveProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product was removed from the wishlist. `wishlist_remove`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function wishlistRemove(productId: string, properties?: WishlistRemoveProperties, options?: EventOptions): boolean;
/** Optional properties of `remove_from_cart` (custom ones allowed too). */
export interface RemoveFromCartProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** A product was removed from the cart. `remove_from_cart`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). `quantity`: Units added or removed. Whole number, 1 to 2147483647. */
export function removeFromCart(productId: string, quantity: number, properties?: RemoveFromCartProperties, options?: EventOptions): boolean;
/** Optional properties of `hide_item` (custom ones allowed too). */
export interface HideItemProperties {
  /** Product name. */ name?: string;
  /** Unit price. At least 0. */ price?: number;
  /** ISO 4217 currency code, e.g. EUR */ currency?: string;
  /** Category path, e.g. `perfume/floral`. */ category?: string;
  /** Brand. */ brand?: string;
  /** Variant (size, colour...). */ variant?: string;
  /** Position in the list it was shown in, from 0. Whole number, 0 to 2147483647. */ position?: number;
  /** The list it was shown in (search results, a category, a recommendation slot). */ list?: string;
  [key: string]: unknown;
}
/** The user asked not to see a product. `hide_item`, purpose analytics. `productId`: The product's id in the shop's catalogue (SKU). */
export function hideItem(productId: string, properties?: HideItemProperties, options?: EventOptions): boolean;
/** Optional properties of `app_opened` (custom ones allowed too). */
export interface AppOpenedProperties {
  /** False on a cold start. */ from_background?: boolean;
  [key: string]: unknown;
}
/** The app came to the foreground. `app_opened`, purpose analytics. */
export function appOpened(properties?: AppOpenedProperties, options?: EventOptions): boolean;
/** Optional properties of `app_backgrounded` (custom ones allowed too). */
export interface AppBackgroundedProperties {
  [key: string]: unknown;
}
/** The app went to the background. `app_backgrounded`, purpose analytics. */
export function appBackgrounded(properties?: AppBackgroundedProperties, options?: EventOptions): boolean;
/** Optional properties of `session_started` (custom ones allowed too). */
export interface SessionStartedProperties {
  [key: string]: unknown;
}
/** A session began. `session_started`, purpose analytics. */
export function sessionStarted(properties?: SessionStartedProperties, options?: EventOptions): boolean;
/** Optional properties of `session_ended` (custom ones allowed too). */
export interface SessionEndedProperties {
  /** The session's length. Whole number, 0 to 9223372036854775807. */ duration_ms?: number;
  [key: string]: unknown;
}
/** A session ended. `session_ended`, purpose analytics. */
export function sessionEnded(properties?: SessionEndedProperties, options?: EventOptions): boolean;
/** Optional properties of `recommendation_shown` (custom ones allowed too). */
export interface RecommendationShownProperties {
  [key: string]: unknown;
}
/** Recommendations were shown (the CTR denominator). `recommendation_shown`, purpose personalization. `modelVersion`: The recommender's modelVersion. `list`: The slot: product-page, homepage, cart. `productIds`: The products shown, in order. */
export function recommendationShown(modelVersion: string, list: string, productIds: string[], properties?: RecommendationShownProperties, options?: EventOptions): boolean;
/** Optional properties of `recommendation_clicked` (custom ones allowed too). */
export interface RecommendationClickedProperties {
  [key: string]: unknown;
}
/** A recommended product was clicked (the CTR numerator). `recommendation_clicked`, purpose personalization. `modelVersion`: The recommender's modelVersion. `list`: The slot it was shown in. `productId`: The product clicked. `position`: Its position in the slot, from 0. Whole number, 0 to 2147483647. */
export function recommendationClicked(modelVersion: string, list: string, productId: string, position: number, properties?: RecommendationClickedProperties, options?: EventOptions): boolean;
/** Optional properties of `experiment_exposure` (custom ones allowed too). */
export interface ExperimentExposureProperties {
  [key: string]: unknown;
}
/** The user saw a variant of an A/B test. `experiment_exposure`, purpose analytics. `experiment`: The experiment's id. `variant`: The variant shown. */
export function experimentExposure(experiment: string, variant: string, properties?: ExperimentExposureProperties, options?: EventOptions): boolean;
// --- end of generated code ---
