// What cairn.d.ts must accept and refuse (each @ts-expect-error line must be an error).
import * as cairn from '../../js/cairn';

export async function use(): Promise<void> {
  await cairn.init({ writeKey: 'k', hashKey: 'h' });
  await cairn.init({ writeKey: 'k', hashIdentities: false });
  // @ts-expect-error hashKey is required unless hashIdentities is false
  await cairn.init({ writeKey: 'k' });
  cairn.addToCart('sku-1', 2, { price: 9.5, custom_prop: [1] }, { purpose: 'marketing' });
  // @ts-expect-error a typed optional property has its type
  cairn.productViewed('sku-1', { price: 'free' });
  // @ts-expect-error the link type is one of the table's values
  cairn.linkClick('https://x.example/', 'sideways');
  // @ts-expect-error line items need product_id, price and quantity
  cairn.purchase('o-1', [{ product_id: 'a', price: 1 }], 1, 'EUR');
  // @ts-expect-error required arguments come first
  cairn.search();
}
