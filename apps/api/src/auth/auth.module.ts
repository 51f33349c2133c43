import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { LoginThrottle, SessionStore, SigningKeyStore } from '@beecastle/auth';
import type { Keyring } from '@beecastle/crypto';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';
import { KEYRING } from '../event-store/event-store.module';
import { ApiKeyUsageRecorder } from './api-keys/api-key-usage.recorder';
import { AuthController } from './auth.controller';
import { ApiKeyAuthGuard, AuthenticationGuard, JwtAuthGuard } from './authentication.guard';
import { JwksController } from './jwks/jwks.controller';
import { LoginService } from './login/login.service';
import { LogoutService } from './logout/logout.service';
import { MeController } from './me/me.controller';
import { PrincipalLookups } from './principal-lookups';
import { RefreshService } from './refresh/refresh.service';
import { SigningKeysLifecycle } from './signing-keys/signing-keys.lifecycle';
import { ApiKeyStrategy } from './strategies/api-key.strategy';
import { JwtStrategy } from './strategies/jwt.strategy';

/** Authentication for every route: the global guard, its two strategies, sign-in and sessions. */
@Module({
  imports: [PassportModule.register({ session: false })],
  controllers: [AuthController, MeController, JwksController],
  providers: [
    {
      provide: SigningKeyStore,
      inject: [APP_POOL, KEYRING],
      // The active key's private half is stored sealed; the keyring opens it.
      useFactory: (pool: Pool, keyring: Keyring) => new SigningKeyStore(pool, keyring),
    },
    {
      provide: SessionStore,
      inject: [APP_POOL],
      useFactory: (pool: Pool) => new SessionStore(pool),
    },
    {
      provide: LoginThrottle,
      inject: [APP_POOL],
      useFactory: (pool: Pool) => new LoginThrottle(pool),
    },
    SigningKeysLifecycle,
    ApiKeyUsageRecorder,
    PrincipalLookups,
    JwtStrategy,
    ApiKeyStrategy,
    JwtAuthGuard,
    ApiKeyAuthGuard,
    { provide: APP_GUARD, useClass: AuthenticationGuard },
    LoginService,
    RefreshService,
    LogoutService,
  ],
  // Deactivating a member ends their sessions (organisations module).
  exports: [SessionStore],
})
export class AuthModule {}
