import { Body, Controller, Header, HttpCode, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { AuthContext, AuthenticatedRequest, SignedIn } from './auth-context';
import { CurrentAuth, Public } from './auth.decorators';
import { clientIp } from './client-ip';
import { LoginDto } from './login/login.dto';
import { LoginService } from './login/login.service';
import { LogoutService } from './logout/logout.service';
import { RefreshDto } from './refresh/refresh.dto';
import { RefreshService } from './refresh/refresh.service';
import type { TokenResponse } from './token-response';
import { bodyValidation } from '../http/validation';

@ApiTags('auth')
@Controller('v1/auth')
export class AuthController {
  constructor(
    private readonly loginService: LoginService,
    private readonly refreshService: RefreshService,
    private readonly logoutService: LogoutService,
  ) {}

  @Public()
  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async token(
    @Body(bodyValidation) body: LoginDto,
    @Req() req: FastifyRequest,
  ): Promise<TokenResponse> {
    return attributed(req, await this.loginService.login(body, clientIp(req)));
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  async refresh(
    @Body(bodyValidation) body: RefreshDto,
    @Req() req: FastifyRequest,
  ): Promise<TokenResponse> {
    return attributed(req, await this.refreshService.refresh(body.refreshToken));
  }

  @Post('logout')
  @HttpCode(204)
  logout(@CurrentAuth() auth: AuthContext): Promise<void> {
    return this.logoutService.logout(auth);
  }
}

/** Names the member on the request for the request log, and answers the tokens only. */
function attributed(
  req: FastifyRequest,
  { signedIn, ...tokens }: TokenResponse & { signedIn: SignedIn },
): TokenResponse {
  (req as unknown as AuthenticatedRequest).signedIn = signedIn;
  return tokens;
}
