import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AdminGuard, assertMayReachManagement } from '../auth/admin.guard';
import { ActiveConfig } from '../config/active-config';
import { DashboardSummary } from './dashboard-summary';

/** The page's own files, shipped beside this module (nest-cli copies them into dist/ as assets). */
function pageFile(name: string): string {
  return readFileSync(join(__dirname, 'page', name), 'utf8');
}

/**
 * The page may run only its own script and style, may talk only to this gateway, and may not be framed: whatever text
 * an upstream error or an account email carries, it cannot become code here.
 */
const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * GET /dashboard: one page for a person watching the pool. It holds no data itself: its script asks for the admin key
 * once (kept in the tab's sessionStorage, sent as x-api-key, never a cookie) and refreshes from /providers,
 * /oauth/status and /dashboard/summary every few seconds.
 */
@Controller('dashboard')
export class DashboardController {
  private readonly page = pageFile('dashboard.html');
  private readonly script = pageFile('dashboard.js');
  private readonly style = pageFile('dashboard.css');

  constructor(
    private readonly summary: DashboardSummary,
    private readonly active: ActiveConfig,
  ) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', PAGE_POLICY)
  @Header('cache-control', 'no-store')
  @Header('referrer-policy', 'no-referrer')
  @Header('x-content-type-options', 'nosniff')
  @Header('x-frame-options', 'DENY')
  shell(@Req() request: FastifyRequest): string {
    // The page holds no data and asks for the admin key itself: only who may reach the management endpoints at all.
    assertMayReachManagement(request, this.active.runtime.config.settings.adminKey);
    return this.page;
  }

  @Get('dashboard.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('cache-control', 'no-cache')
  @Header('x-content-type-options', 'nosniff')
  pageScript(): string {
    return this.script;
  }

  @Get('dashboard.css')
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('cache-control', 'no-cache')
  @Header('x-content-type-options', 'nosniff')
  pageStyle(): string {
    return this.style;
  }

  @Get('summary')
  @UseGuards(AdminGuard)
  @Header('cache-control', 'no-store')
  state() {
    return this.summary.build();
  }
}
