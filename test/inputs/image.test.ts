// Image preprocessing (src/inputs/image.ts, image-plan.ts, image-hf.ts) against independent
// references: the formula evaluated here on decoded pixels (exact), and PIL-made fixtures
// (test/fixtures/images/make_images.py) within measured tolerances, in 8-bit levels (1 level =
// 1/255 after rescaling):
//   - no resize (exact size, colour conversion RGB→L, EXIF orientation, layouts, BGR): 0, exactly;
//   - alpha onto black: ≤ 1 level (libvips rounds α·p differently from PIL's paste);
//   - downsampling, bilinear and bicubic: mean ≤ 0.5, max ≤ 3 levels (libvips' and PIL's fixed-point
//     convolutions round differently; measured mean 0.33/0.25, max 3/2); nearest: 0;
//   - upsampling bilinear (40×30 → 56×42): mean ≤ 5, max ≤ 90 levels — libvips enlarges with a
//     different sample placement than PIL (measured mean 4.47, max 81 at a hard edge): pinned so a
//     change shows, not a claim of agreement.
import t from 'tap'
import { CalserveError } from '../../src/errors.js'
import { imageBlockFromHf } from '../../src/inputs/image-hf.js'
import { ImagePlanError, planImage } from '../../src/inputs/image-plan.js'
import { ImageBlockSchema } from '../../src/models/manifest.js'
import { diff, expectedTensor, image, pixelsOf, plan, tensorOf } from './image-helpers.js'

const LEVEL = 1 / 255
const identity = { rescale: 1 / 255, mean: [0], std: [1] }

t.test('exact path: the tensor is the formula on the decoded pixels, bit for bit', async (t) => {
  const gray = { size: { height: 28, width: 28 }, image_mean: [0.286], image_std: [0.353] }
  const got = await tensorOf('exact_gray.png', plan(gray, [1, 28, 28]))
  const want = expectedTensor(await pixelsOf('exact_gray.png'), { rescale: 1 / 255, mean: [0.286], std: [0.353], layout: 'nchw' })
  t.same(diff(got, want), { mean: 0, max: 0, differing: 0 })

  const mean = [0.485, 0.456, 0.406]
  const std = [0.229, 0.224, 0.225]
  const rgb = { size: { height: 6, width: 8 }, image_mean: mean, image_std: std, rescale_factor: 0.00392156862745098 }
  const px = await pixelsOf('exact_rgb.png')
  for (const [layout, shape] of [['nchw', [3, 6, 8]], ['nhwc', [6, 8, 3]]] as const) {
    const d = diff(await tensorOf('exact_rgb.png', plan(rgb, [...shape])), expectedTensor(px, { rescale: 0.00392156862745098, mean, std, layout }))
    t.same(d, { mean: 0, max: 0, differing: 0 }, `${layout} exact`)
  }
  const bgr = await tensorOf('exact_rgb.png', plan({ ...rgb, color: 'bgr' }, [3, 6, 8]))
  t.same(diff(bgr, expectedTensor(px, { rescale: 0.00392156862745098, mean, std, layout: 'nchw', order: [2, 1, 0] })).differing, 0, 'bgr swaps the channels')
  t.not(diff(bgr, expectedTensor(px, { rescale: 0.00392156862745098, mean, std, layout: 'nchw' })).differing, 0, 'and differs from rgb')
})

t.test('colour, orientation and alpha against PIL', async (t) => {
  const gray = diff(await tensorOf('src_rgb.png', plan({ size: { height: 30, width: 40 }, color: 'grayscale' }, [1, 30, 40])), expectedTensor(await pixelsOf('pil_gray.png'), { ...identity, layout: 'nchw' }))
  t.equal(gray.differing, 0, "RGB → grayscale is PIL's convert('L') exactly")
  const rot = diff(await tensorOf('orient6.jpg', plan({ size: { height: 12, width: 8 } }, [3, 12, 8])), expectedTensor(await pixelsOf('orient6_pil.png'), { ...identity, layout: 'nchw' }))
  t.equal(rot.differing, 0, 'EXIF orientation 6 applied as ImageOps.exif_transpose (the 12×8 JPEG becomes 8×12)')
  const alpha = diff(await tensorOf('rgba.png', plan({ size: { height: 6, width: 8 } }, [3, 6, 8])), expectedTensor(await pixelsOf('rgba_pil.png'), { ...identity, layout: 'nchw' }))
  t.ok(alpha.max <= LEVEL + 1e-7, `alpha onto black within 1 level (max ${(alpha.max / LEVEL).toFixed(2)})`)
})

t.test('resize and center crop against PIL within the stated tolerances', async (t) => {
  const cases = [
    ['nearest 40×30 → 16×12', 'pil_resize_nearest_16x12.png', { size: { height: 12, width: 16 }, resample: 'nearest' }, [3, 12, 16], 0, 0],
    ['bilinear 40×30 → 16×12', 'pil_resize_bilinear_16x12.png', { size: { height: 12, width: 16 }, resample: 'bilinear' }, [3, 12, 16], 0.5, 3],
    ['bicubic 40×30 → 16×12', 'pil_resize_bicubic_16x12.png', { size: { height: 12, width: 16 }, resample: 'bicubic' }, [3, 12, 16], 0.5, 3],
    ['grayscale then bilinear → 16×12', 'pil_gray_bilinear_16x12.png', { size: { height: 12, width: 16 }, color: 'grayscale' }, [1, 12, 16], 0.5, 3],
    ['shortest edge 20 (→ 26×20) bicubic, crop 16×16', 'pil_shortest20_bicubic_crop16.png', { size: { shortest_edge: 20 }, crop_size: { height: 16, width: 16 }, resample: 'bicubic' }, [3, 16, 16], 0.5, 3],
    ['bilinear upsampling 40×30 → 56×42', 'pil_resize_bilinear_56x42.png', { size: { height: 42, width: 56 }, resample: 'bilinear' }, [3, 42, 56], 5, 90],
  ] as const
  for (const [name, ref, block, shape, meanTol, maxTol] of cases) {
    const got = await tensorOf('src_rgb.png', plan(block, [...shape]))
    const d = diff(got, expectedTensor(await pixelsOf(ref), { ...identity, layout: 'nchw' }))
    t.comment(`${name}: mean ${(d.mean / LEVEL).toFixed(3)} levels, max ${(d.max / LEVEL).toFixed(1)} levels`)
    t.ok(d.mean <= meanTol * LEVEL + 1e-7 && d.max <= maxTol * LEVEL + 1e-6, `${name} within mean ${meanTol}, max ${maxTol} levels`)
  }
})

t.test('BAD CALL - every bad image is a 400 naming the image and the reason', async (t) => {
  const p = plan({ size: { height: 28, width: 28 } }, [1, 28, 28])
  const cases: Array<[string, Buffer, RegExp, number?]> = [
    ['not an image', image('not_image.txt'), /image is not an image calserve can read/],
    ['empty', Buffer.alloc(0), /image is empty/],
    ['truncated', image('truncated.png'), /image cannot be decoded .*truncated/],
    ['animated', image('animated.webp'), /image is animated \(2 frames\)/],
    ['format not allowed', image('image.tiff'), /image is TIFF, a format calserve does not accept/],
    ['decompression bomb at the 40 MP default', image('big.png'), /7000×7000 = 49000000 pixels, more than 40000000/],
    ['over a lower limit', image('exact_gray.png'), /28×28 = 784 pixels, more than 700 \(CALSERVE_MAX_IMAGE_PIXELS\)/, 700],
  ]
  for (const [name, bytes, message, maxPixels] of cases) {
    const err = await tensorOf(bytes, p, maxPixels).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof CalserveError && err.statusCode === 400 && err.code === 'CALSERVE_BAD_INPUT', `${name}: BAD_INPUT`)
    t.match((err as Error).message, message, name)
    t.match((err as CalserveError).details, { image: 'image' }, `${name}: details name the image`)
  }
})

t.test('16-bit and CMYK inputs are converted, not refused', async (t) => {
  const g16 = await tensorOf('gray16.png', plan({ size: { height: 28, width: 28 } }, [1, 28, 28]))
  t.equal(g16[0], 0, 'first pixel 0')
  t.equal(g16[g16.length - 1], 1, 'the 16-bit maximum becomes 255 → 1.0')
  const cmyk = await tensorOf('cmyk.jpg', plan({ size: { height: 30, width: 40 } }, [3, 30, 40]))
  t.equal(cmyk.length, 3600, 'CMYK → sRGB, 3 channels')
})

t.test('BAD CALL - a block that does not fit the input shape says why', async (t) => {
  const block = (b: Record<string, unknown>) => ImageBlockSchema.parse(b)
  const cases: Array<[Record<string, unknown>, number[], RegExp]> = [
    [{ size: { height: 28, width: 28 } }, [784], /3 dimensions besides the batch/],
    [{ size: { height: 32, width: 32 } }, [1, 28, 28], /makes 32×32 images \(size\) but the input takes 28×28/],
    [{ size: { shortest_edge: 28 } }, [1, 28, 28], /needs crop_size/],
    [{ size: { height: 28, width: 28 }, color: 'rgb' }, [1, 28, 28], /neither its first nor its last dimension is 3 channels/],
    [{ size: { height: 28, width: 28 }, image_mean: [0.1, 0.2] }, [3, 28, 28], /image_mean has 2 values; give 1 or 3/],
    [{ size: { height: 28, width: 28 }, layout: 'nhwc' }, [1, 28, 28], /color grayscale has 1 channels but the input has 28|puts 28 channels/],
  ]
  for (const [b, shape, message] of cases) t.throws(() => planImage(block(b), shape, 'model.json'), { message }, message.source)
  let thrown: unknown
  try {
    planImage(block({ size: { height: 28, width: 28 } }), [784], 'model.json')
  } catch (err) {
    thrown = err
  }
  t.ok(thrown instanceof ImagePlanError, 'an ImagePlanError, which fails the model at load')
})

t.test("Hugging Face's preprocessor_config.json into the image block", async (t) => {
  const vit = imageBlockFromHf(
    { image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: 224, width: 224 }, resample: 2, do_rescale: true, rescale_factor: 0.00392156862745098, do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] },
    'vit.json',
  )
  t.same(vit, { size: { height: 224, width: 224 }, resample: 'bilinear', rescale_factor: 0.00392156862745098, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] })
  const clip = imageBlockFromHf(
    { image_processor_type: 'CLIPImageProcessor', do_resize: true, size: { shortest_edge: 224 }, resample: 3, do_center_crop: true, crop_size: { height: 224, width: 224 }, do_rescale: true, rescale_factor: 0.00392156862745098, do_normalize: true, image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711], do_convert_rgb: true },
    'clip.json',
  )
  t.match(clip, { size: { shortest_edge: 224 }, resample: 'bicubic', crop_size: { height: 224, width: 224 }, color: 'rgb' })
  t.same(planImage(clip, [3, 224, 224], 'preprocessor_config.json').layout, 'nchw')
  const convnext = imageBlockFromHf({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 0.875, resample: 3, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] }, 'c.json')
  t.match(convnext, { size: { shortest_edge: 256 }, crop_size: { height: 224, width: 224 } }, 'ConvNext: shortest edge S / crop_pct, then an S × S crop')
  t.same(imageBlockFromHf({ do_resize: false, do_rescale: false, do_normalize: false }, 'x.json'), { resample: 'bilinear', rescale_factor: 1, image_mean: [0], image_std: [1] })
  t.throws(() => imageBlockFromHf({ size: { height: 224, width: 224 }, resample: 1 }, 'l.json'), /l.json: resample 1 \(lanczos\) is not one calserve applies/)
  t.throws(() => imageBlockFromHf({ size: { shortest_edge: 800, longest_edge: 1333 } }, 'd.json'), /longest_edge is not supported/)
})
