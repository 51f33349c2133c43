import { Controller, Get, Header } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { SigningKeyStore, type PublicSigningJwk } from '@beecastle/auth';
import { Public } from '../auth.decorators';

/**
 * The platform's public signing keys (RFC 7517): the active one and retired ones whose tokens may
 * still be alive. Cacheable for five minutes: a verifier meeting an unknown kid fetches again.
 */
@ApiTags('auth')
@Controller('.well-known')
export class JwksController {
  constructor(private readonly keys: SigningKeyStore) {}

  @Public()
  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=300')
  jwks(): { keys: PublicSigningJwk[] } {
    return this.keys.jwks();
  }
}
