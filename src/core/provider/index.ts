// The mock payment provider (docs/design.md#payment-provider), for `simulate` and `flashsale provider`.
export { startProvider, type Provider, type ProviderOptions } from './server.js';
export { signToken, verifyToken, type TokenClaims, type TokenCheck } from './token.js';
export {
  decide,
  EXPECTED,
  parseFaultConfig,
  type Fault,
  type FaultConfig,
  type FaultConfigInput,
  type FaultKind,
} from './faults.js';
export type { ReconCategory } from '../reconcile/categories.js';
export { providerSchemaIdent, providerSchemaName, type Charge, type ChargeStatus, type Refund } from './ledger.js';
export { MAX_AMOUNT, MAX_PAGE, type RateLimit } from './http.js';
