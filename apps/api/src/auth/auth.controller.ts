import { Body, Controller, Header, HttpCode, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { AuthContext } from './auth-context';
import { CurrentAuth, Public } from './auth.decorators';
import { clientIp } from './client-ip';
import { LoginDto } from './login/login.dto';
import { LoginService } from './login/login.service';
import { LogoutService } from './logout/logout.service';
import { RefreshDto } from './refresh/refresh.dto';
import { RefreshService } from './refresh/refresh.service';
import type { TokenResponse } from './token-response';
import { bodyValidation } from '../http/validation';

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
  token(@Body(bodyValidation) body: LoginDto, @Req() req: Request): Promise<TokenResponse> {
    return this.loginService.login(body, clientIp(req));
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  refresh(@Body(bodyValidation) body: RefreshDto): Promise<TokenResponse> {
    return this.refreshService.refresh(body.refreshToken);
  }

  @Post('logout')
  @HttpCode(204)
  logout(@CurrentAuth() auth: AuthContext): Promise<void> {
    return this.logoutService.logout(auth);
  }
}
