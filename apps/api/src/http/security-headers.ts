import type { SecurityHeadersOptions } from '@nestjs/common';

/**
 * helmet's defaults (via Nest's built-in `useSecurityHeaders`), tightened for an API that serves
 * only JSON: nothing may be loaded or framed from it. HSTS for a year, subdomains included.
 */
export const SECURITY_HEADERS: SecurityHeadersOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  xFrameOptions: { action: 'deny' },
  strictTransportSecurity: { maxAge: 365 * 24 * 60 * 60, includeSubDomains: true },
  referrerPolicy: { policy: 'no-referrer' },
};
