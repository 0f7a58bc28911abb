import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { DashboardController } from './dashboard.controller';
import { DashboardSummary } from './dashboard-summary';

@Module({ imports: [MetricsModule], controllers: [DashboardController], providers: [DashboardSummary] })
export class DashboardModule {}
