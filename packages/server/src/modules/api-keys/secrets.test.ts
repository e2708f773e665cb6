import { expect, it } from 'vitest';
import { hashSecret } from './secrets.js';

it('hashSecret is the hex SHA-256 keys have always been stored as, so stored keys keep working', () => {
  expect(hashSecret('km_sk_0123456789ABCDEFGHIJabcdefghij01')).toBe(
    'efe83590849f20b3c510c4f9c9c2549c7ba095347b46f93baf5b44739c00e16c',
  );
});
