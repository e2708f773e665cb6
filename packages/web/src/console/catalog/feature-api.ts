import type { Feature, FeaturePatch } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { segment } from '../../api/client';
import { useApi } from '../session';

/** The query of one feature (under `features`, so the live stream's catalog events refresh it). */
export const featureKey = (key: string) => ['features', key] as const;

/** Saves a patch of a feature and puts the answer where every part of the page reads it. */
export function useFeaturePatch(key: string) {
  const api = useApi();
  const queries = useQueryClient();
  return useMutation({
    mutationFn: (patch: FeaturePatch) => api.patch<Feature>(`/v1/features/${segment(key)}`, patch),
    onSuccess: (feature) => {
      queries.setQueryData(featureKey(key), feature);
      void queries.invalidateQueries({ queryKey: ['features', 'list'] });
    },
  });
}
